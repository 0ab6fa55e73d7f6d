"""A fault-injecting HTTP proxy for tests, in front of the moto server.

AWS fails in ways moto never does: 409 "An update is in progress", 412 stale RevisionId, 429
throttling, 5xx, a response that never comes, a connection cut mid-upload. `FaultProxy` listens on
127.0.0.1, forwards every request to moto unchanged, and injects such faults per AWS operation and
per call count, so a test can point ``AWS_ENDPOINT_URL`` at it and run the real CLI.

    proxy = FaultProxy("http://127.0.0.1:5000").start()
    proxy.add_fault("UpdateFunctionConfiguration", status=409, times=2)
    proxy.add_fault("PublishLayerVersion", drop=True, forward=True)   # done, but the answer is lost
    proxy.add_fault("GetFunctionConfiguration", rewrite={"LastUpdateStatus": "InProgress"})
    ...run the CLI with AWS_ENDPOINT_URL=proxy.endpoint...
    assert proxy.forwarded("PublishLayerVersion") == 1
    proxy.stop()

Operations are named as in botocore's service models (``PublishLayerVersion``, ``UploadPart``,
``GetCallerIdentity``); ``lambda:GetPolicy`` names one service's operation and ``*`` any request.
The operation of a request is found from its SigV4 credential scope (the service) and that
service's model: the ``requestUri`` templates for REST services, ``Action`` for the query protocol,
``X-Amz-Target`` for JSON and the URL path for RPCv2-CBOR.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import math
import re
import select
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

# Services whose operations the proxy can name; add one here when layerkit starts to use it.
SERVICES = ("lambda", "s3", "sts", "cloudwatch", "iam", "logs")

UNKNOWN = "Unknown"
ANY = "*"

FaultKind = Literal["pass", "error", "hang", "drop", "drop-mid-body", "rewrite"]
# A JSON answer's new body: from a function of the old one, or keys merged into the old one.
Rewrite = Callable[[dict[str, Any]], dict[str, Any]] | Mapping[str, Any]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect"}
)
_NOT_RELAYED = _HOP_BY_HOP | {"transfer-encoding", "content-length"}
_BODY_DIGESTS = frozenset({"content-md5", "x-amz-crc32", "etag"})


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Operation:
    """The AWS operation of one request ("" / ``Unknown`` when it could not be told)."""

    service: str
    name: str
    protocol: str  # the wire protocol of the request: rest-json, rest-xml, query, json, ...

    def matches(self, selector: str) -> bool:
        return _selects(selector, self.service, self.name)


def _selects(selector: str, service: str, name: str) -> bool:
    """True for ``*``, the bare operation name or ``service:Name``."""
    return selector in (ANY, name, f"{service}:{name}")


@dataclass(frozen=True)
class _Route:
    """One REST operation: method, path template and what its query/headers must carry."""

    name: str
    method: str
    path: re.Pattern[str]
    literal_chars: int
    query: tuple[tuple[str, str | None], ...]
    required_headers: tuple[str, ...]
    deprecated: bool

    def accepts(self, method: str, path: str, query: Mapping[str, str], headers: Any) -> bool:
        if method != self.method or not self.path.fullmatch(path):
            return False
        for key, value in self.query:
            if key not in query or (value is not None and query[key] != value):
                return False
        return all(headers.get(name) is not None for name in self.required_headers)

    def specificity(self) -> tuple[int, int, int]:
        return (len(self.query) + len(self.required_headers), self.literal_chars, -self.deprecated)


@dataclass(frozen=True)
class _Service:
    name: str
    protocol: str
    signing_name: str
    target_prefix: str
    query_compatible: bool
    operations: frozenset[str]
    routes: tuple[_Route, ...]

    def rest_operation(
        self, method: str, path: str, query: Mapping[str, str], headers: Any
    ) -> str | None:
        candidates = [r for r in self.routes if r.accepts(method, path, query, headers)]
        if not candidates:
            return None
        # The most specific route wins (UploadPart over PutObject); ties go to the
        # non-deprecated, then the alphabetically first name, so the answer is stable.
        best = min(candidates, key=lambda r: (tuple(-x for x in r.specificity()), r.name))
        return best.name


def _path_regex(template: str) -> tuple[re.Pattern[str], int]:
    pattern = ""
    literal = 0
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{"):
            pattern += ".+" if piece.endswith("+}") else "[^/]+"
        else:
            pattern += re.escape(piece)
            literal += len(piece)
    # S3 path-style requests may carry a trailing slash after the bucket.
    return re.compile(pattern.rstrip("/") + "/?" if pattern != "/" else "/"), literal


def _routes(model: Mapping[str, Any]) -> tuple[_Route, ...]:
    routes = []
    for name, op in model["operations"].items():
        http_spec = op["http"]
        path_part, _, query_part = http_spec["requestUri"].partition("?")
        query: list[tuple[str, str | None]] = []
        for item in filter(None, query_part.split("&")):
            key, sep, value = item.partition("=")
            query.append((key, value if sep else None))
        headers: list[str] = []
        shape_name = op.get("input", {}).get("shape")
        if shape_name:
            shape = model["shapes"][shape_name]
            for member_name in shape.get("required", []):
                member = shape["members"][member_name]
                location = member.get("location")
                if location == "querystring":
                    query.append((member.get("locationName", member_name), None))
                elif location == "header":
                    headers.append(member.get("locationName", member_name))
        regex, literal = _path_regex(path_part)
        routes.append(
            _Route(
                name=name,
                method=http_spec["method"],
                path=regex,
                literal_chars=literal,
                query=tuple(query),
                required_headers=tuple(headers),
                deprecated=bool(op.get("deprecated", False)),
            )
        )
    return tuple(routes)


@functools.cache
def _services() -> dict[str, _Service]:
    """botocore's models of `SERVICES`, keyed by signing name (what SigV4 scopes carry)."""
    import botocore.loaders  # the proxy needs it only to name operations

    loader = botocore.loaders.Loader()
    services: dict[str, _Service] = {}
    for name in SERVICES:
        model = loader.load_service_model(name, "service-2")
        meta = model["metadata"]
        protocol = meta.get("protocols", [meta["protocol"]])[0]
        service = _Service(
            name=name,
            protocol=protocol,
            signing_name=meta.get("signingName", meta["endpointPrefix"]),
            target_prefix=meta.get("targetPrefix", ""),
            query_compatible="awsQueryCompatible" in meta,
            operations=frozenset(model["operations"]),
            routes=_routes(model) if protocol.startswith("rest") else (),
        )
        services[service.signing_name] = service
    return services


def known_operations() -> frozenset[str]:
    """Every operation name of `SERVICES` (bare and ``service:`` qualified)."""
    names: set[str] = set()
    for service in _services().values():
        names |= service.operations
        names |= {f"{service.name}:{op}" for op in service.operations}
    return frozenset(names)


_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_CBOR_PATH = re.compile(r"/service/[^/]+/operation/([^/?]+)")


def _signing_name(headers: Any, query: Mapping[str, str]) -> str | None:
    found = _SCOPE.search(headers.get("Authorization") or "")
    if found:
        return found.group(1)
    credential = query.get("X-Amz-Credential", "")  # presigned URL
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 else None


def _form_action(headers: Any, body: bytes | None) -> str | None:
    if body is None or "x-www-form-urlencoded" not in (headers.get("Content-Type") or ""):
        return None
    values = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    return values[0] if values else None


def identify(method: str, target: str, headers: Any, body: bytes | None) -> Operation | None:
    """The operation of a request; None when only its (unread) body can tell.

    The wire protocol comes from the request itself: botocore may speak JSON to a service whose
    model lists RPCv2-CBOR first (CloudWatch), and an error must come back in the same protocol.
    """
    services = _services()
    split = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    signing = _signing_name(headers, query)
    service = services.get(signing) if signing else None
    service_name = service.name if service else ""

    if split.path.startswith("/moto-api"):
        return Operation("moto", UNKNOWN, "rest-json")
    amz_target = headers.get("X-Amz-Target")
    if amz_target and "." in amz_target:
        prefix, name = amz_target.rsplit(".", 1)
        by_prefix = {s.target_prefix: s.name for s in services.values()}
        return Operation(service_name or by_prefix.get(prefix, ""), name, "json")
    cbor = _CBOR_PATH.fullmatch(split.path)
    if cbor and method == "POST":
        return Operation(service_name, cbor.group(1), "smithy-rpc-v2-cbor")
    if "Action" in query:
        return Operation(service_name, query["Action"], "query")
    form = "x-www-form-urlencoded" in (headers.get("Content-Type") or "")
    if form and method == "POST" and (service is None or service.protocol == "query"):
        if body is None:
            return None
        action = _form_action(headers, body)
        if action:
            return Operation(service_name, action, "query")
    candidates = [service] if service else [services["lambda"], services["s3"]]
    for candidate in candidates:
        if candidate.protocol.startswith("rest"):
            name = candidate.rest_operation(method, split.path, query, headers)
            if name:
                return Operation(candidate.name, name, candidate.protocol)
    return Operation(service_name, UNKNOWN, service.protocol if service else "rest-json")


# --------------------------------------------------------------------------- error bodies


_REST_JSON_CODES = {
    400: "InvalidParameterValueException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    409: "ResourceConflictException",
    412: "PreconditionFailedException",
    429: "TooManyRequestsException",
    500: "ServiceException",
    502: "ServiceException",
    503: "ServiceException",
    504: "ServiceException",
}
_S3_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "OperationAborted",
    412: "PreconditionFailed",
    429: "SlowDown",
    500: "InternalError",
    502: "InternalError",
    503: "SlowDown",
    504: "InternalError",
}
_GENERIC_CODES = {
    400: "ValidationError",
    403: "AccessDenied",
    404: "ResourceNotFound",
    409: "ConflictException",
    412: "PreconditionFailed",
    429: "Throttling",
    500: "InternalFailure",
    502: "InternalFailure",
    503: "ServiceUnavailable",
    504: "InternalFailure",
}
_MESSAGES = {
    "ResourceConflictException": "The operation cannot be performed at this time. "
    "An update is in progress for resource: {path}",
    "PreconditionFailedException": "The Revision Id provided does not match the latest Revision "
    "Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    "TooManyRequestsException": "Rate exceeded",
    "SlowDown": "Please reduce your request rate.",
    "Throttling": "Rate exceeded",
}


def default_error_code(protocol: str, status: int) -> str:
    """The error code AWS most plausibly sends for `status` in a wire `protocol`."""
    tables = {"rest-xml": _S3_CODES, "rest-json": _REST_JSON_CODES}
    table = tables.get(protocol, _GENERIC_CODES)
    if status not in table:
        raise ValueError(f"no default error code for HTTP {status}: pass code=")
    return table[status]


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    size = len(data)
    if size < 24:
        head = bytes([0x60 | size])
    elif size < 0x100:
        head = bytes([0x78, size])
    else:
        head = bytes([0x79]) + size.to_bytes(2, "big")
    return head + data


def _cbor_map(items: Mapping[str, str]) -> bytes:
    """CBOR (RFC 8949) for a small map of text to text: all an RPCv2 error body needs."""
    return bytes([0xA0 | len(items)]) + b"".join(
        _cbor_text(k) + _cbor_text(v) for k, v in items.items()
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_response(
    operation: Operation, status: int, code: str, message: str
) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of an AWS error in the wire protocol of the operation's service."""
    request_id = str(uuid.uuid4())
    services = {s.name: s for s in _services().values()}
    service = services.get(operation.service)
    protocol = operation.protocol
    sender = "Sender" if status < 500 else "Receiver"
    if protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{_xml_escape(code)}</Code><Message>{_xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body
    if protocol == "query":
        body = (
            "<ErrorResponse><Error>"
            f"<Type>{sender}</Type><Code>{_xml_escape(code)}</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
    headers = [("x-amzn-RequestId", request_id)]
    if service is not None and service.query_compatible:
        headers.append(("x-amzn-query-error", f"{code};{sender}"))
    if protocol == "smithy-rpc-v2-cbor":
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        return headers, _cbor_map({"__type": code, "message": message})
    if protocol == "json":
        headers.append(("Content-Type", "application/x-amz-json-1.1"))
        return headers, json.dumps({"__type": code, "message": message}).encode()
    # rest-json (Lambda): the code travels in a header, the body says who is at fault.
    headers += [("Content-Type", "application/json"), ("x-amzn-errortype", code)]
    payload = {"Type": "User" if status < 500 else "Service", "message": message}
    if code == "TooManyRequestsException":
        payload["Reason"] = "CallerRateLimitExceeded"
    return headers, json.dumps(payload).encode()


# --------------------------------------------------------------------------- rules and calls


@dataclass(frozen=True)
class Fault:
    """What to do with a request. `forward` sends it to moto first (so it takes effect)."""

    kind: FaultKind
    status: int = 0
    code: str = ""
    message: str = ""
    seconds: float = 0.0
    forward: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    rewrite: Rewrite | None = None


def rewrite_json(body: bytes, rewrite: Rewrite) -> bytes:
    """`body` (a JSON object) patched by `rewrite`: a function of it, or keys merged into it."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"rewrite= needs a JSON object answer, got {type(document).__name__}")
    patched = rewrite(document) if callable(rewrite) else {**document, **rewrite}
    return json.dumps(patched).encode()


@dataclass
class Rule:
    """A fault for the calls `first` .. `first + times - 1` of `operation` since it was added.

    `seen` counts the matching calls the rule has seen, `fired` how often it applied. Read them
    from tests; the proxy updates them under its lock.
    """

    operation: str
    fault: Fault
    first: int = 1
    times: float = 1
    seen: int = 0
    fired: int = 0

    def offer(self, operation: Operation) -> bool:
        """Count a call of a matching operation; True when the rule applies to it."""
        if not operation.matches(self.operation):
            return False
        self.seen += 1
        return self.first <= self.seen < self.first + self.times


@dataclass(frozen=True)
class Call:
    """One request the proxy saw, final by the time the client has its answer (or lost it).

    number: 1-based count of this operation since the last reset.
    status: what the client got; None when it got no response (hang, drop).
    forwarded: the request reached moto, so the operation took effect there.
    received: bytes of the request body the proxy read (as sent: chunked framing included).
    """

    operation: str
    service: str
    method: str
    path: str
    number: int
    fault: FaultKind
    status: int | None
    forwarded: bool
    received: int = 0

    def matches(self, selector: str) -> bool:
        return _selects(selector, self.service, self.operation)


@dataclass
class _State:
    rules: list[Rule] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- the server


class _Disconnected(Exception):
    """The client went away while we read its request."""


def _read_chunked(rfile: Any) -> bytes:
    """The raw bytes (framing included) of a chunked body, to relay it unchanged."""
    parts: list[bytes] = []
    while True:
        line = rfile.readline(65537)
        if not line:
            raise _Disconnected
        parts.append(line)
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        data = rfile.read(size + 2)
        if len(data) < size + 2:
            raise _Disconnected
        parts.append(data)
    while True:  # trailers, up to the blank line
        line = rfile.readline(65537)
        parts.append(line)
        if line in (b"\r\n", b"\n", b""):
            return b"".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the proxy's record of calls is what tests read."""

    def _chunked(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    def _content_length(self) -> int:
        return int(self.headers.get("Content-Length") or 0)

    def _read_body(self) -> bytes:
        if self._chunked():
            return _read_chunked(self.rfile)
        length = self._content_length()
        data: bytes = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise _Disconnected
        return data

    def _read_part_of_body(self) -> int:
        """Read about half the body, so the client is cut off mid-request; bytes read."""
        if self._chunked():
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16) if line else 0
            return len(line) + len(self.rfile.read(max(size // 2, 1) if size else 0))
        length = self._content_length()
        return len(self.rfile.read(max(length // 2, 1) if length else 0))

    def _handle(self) -> None:
        proxy = self.server.proxy
        body: bytes | None = None
        try:
            operation = identify(self.command, self.path, self.headers, None)
            if operation is None:
                body = self._read_body()
                operation = identify(self.command, self.path, self.headers, body)
                assert operation is not None
            fault, index = proxy._decide(operation, self.command, self.path)
            if fault.kind == "drop-mid-body" and body is None:
                proxy._update(index, received=self._read_part_of_body())
                self._cut()
                return
            if body is None:
                body = self._read_body()
            proxy._update(index, received=len(body))
        except _Disconnected:
            self.close_connection = True
            return

        response = None
        if fault.kind in ("pass", "rewrite") or fault.forward:
            response = self._forward(body)
            if response is None:
                proxy._update(index, status=502)
                self._send(502, "", [("Content-Type", "text/plain")], b"fault proxy: no upstream")
                return
            proxy._update(index, forwarded=True, status=response[0])

        if fault.kind == "error":
            code = fault.code or default_error_code(operation.protocol, fault.status)
            message = fault.message or _MESSAGES.get(code, code).format(path=self.path)
            headers, error_body = error_response(operation, fault.status, code, message)
            proxy._update(index, status=fault.status)
            self._send(fault.status, "", [*headers, *fault.headers], error_body)
        elif fault.kind == "hang":
            proxy._update(index, status=None)
            self._hang(fault.seconds)
            self._cut()
        elif fault.kind in ("drop", "drop-mid-body"):
            proxy._update(index, status=None)
            self._cut()
        elif response is not None:
            status, reason, headers, data = response
            if fault.kind == "rewrite" and fault.rewrite is not None and 200 <= status < 300:
                try:
                    data = rewrite_json(data, fault.rewrite)
                except ValueError as exc:  # a test asked to rewrite a non-JSON answer
                    proxy.errors.append(f"rewrite of {operation.name} failed: {exc!r}")
                # The relayed headers may describe the old body (checksums): drop those.
                headers = [(k, v) for k, v in headers if k.lower() not in _BODY_DIGESTS]
            self._send(status, reason, headers, data, relay=True)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes] | None:
        host, port = self.server.proxy.upstream
        connection = http.client.HTTPConnection(
            host, port, timeout=self.server.proxy.upstream_timeout
        )
        try:
            connection.putrequest(
                self.command, self.path, skip_host=True, skip_accept_encoding=True
            )
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.endheaders()
            if body:
                connection.send(body)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        except OSError as exc:
            # moto failing is a broken test setup, not a fault under test: report it.
            self.server.proxy.errors.append(f"upstream {host}:{port} failed: {exc!r}")
            return None
        finally:
            connection.close()

    def _send(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        relay: bool = False,
    ) -> None:
        no_body = self.command == "HEAD" or status in (204, 304)
        try:
            self.send_response_only(status, reason or None)
            for name, value in headers:
                lower = name.lower()
                # A HEAD answer's Content-Length describes the object, not this (empty) body.
                if lower in _NOT_RELAYED and not (relay and no_body and lower == "content-length"):
                    continue
                self.send_header(name, value)
            if not no_body:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not no_body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _hang(self, seconds: float) -> None:
        """Answer nothing until `seconds` pass, the client leaves or the proxy stops."""
        stopping = self.server.proxy._stopping
        deadline = time.monotonic() + seconds
        while not stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.05))
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return  # the client gave up and closed its end
            except OSError:
                return
            if readable:
                stopping.wait(min(remaining, 0.05))

    def _cut(self) -> None:
        """Close the connection without a response (RST when request bytes are left unread)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads

    def __init__(self, address: tuple[str, int], proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads waiting for a client's next request on a kept-alive socket."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return  # a client hanging up on us is a fault we cause on purpose
        self.proxy.errors.append(traceback.format_exc())


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to `upstream` and injects AWS faults."""

    def __init__(self, upstream: str, *, upstream_timeout: float = 60.0) -> None:
        split = urllib.parse.urlsplit(upstream)
        if split.scheme != "http" or not split.hostname or not split.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream = (split.hostname, split.port)
        self.upstream_timeout = upstream_timeout
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._state = _State()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> FaultProxy:
        """Listen on a free 127.0.0.1 port and serve from a background thread."""
        if self._server is not None:
            raise RuntimeError("fault proxy already started")
        _services()  # load the models now, not inside the first request
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fault-proxy",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hanging requests, close every socket, join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        server.close_connections()
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """The URL to put in AWS_ENDPOINT_URL / endpoint_url."""
        if self._server is None:
            raise RuntimeError("fault proxy not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- programming faults

    def add_fault(
        self,
        operation: str,
        *,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        hang: float | None = None,
        drop: bool = False,
        drop_mid_body: bool = False,
        passthrough: bool = False,
        rewrite: Rewrite | None = None,
        forward: bool = False,
        nth: int = 1,
        times: int = 1,
        always: bool = False,
    ) -> Rule:
        """Inject one fault into calls of `operation`; returns the rule (see `Rule.fired`).

        Exactly one of:
          status=409        an AWS error (code/message default to what AWS sends; override them;
                            extra response `headers`, e.g. {"x-amz-retry-after": "0"})
          hang=seconds      no answer for that long (math.inf: until the client gives up), then
                            close the connection
          drop=True         close the connection without a response, after reading the request
          drop_mid_body=True  read about half the request body, then close (an upload cut off;
                            a query-protocol call, whose body names it, is read whole first)
          passthrough=True  forward unchanged (to exempt calls from a later, broader rule)
          rewrite=...       forward, then change the JSON answer before the client sees it: a
                            mapping is merged into the top-level object (e.g.
                            {"LastUpdateStatus": "InProgress"}, which moto never reports), a
                            callable gets the parsed object and returns the new one; error
                            answers pass unchanged
        forward=True sends the request to moto before an error/hang/drop: the operation takes
        effect but the client never learns it (a lost response).
        Which calls: the `nth` .. `nth + times - 1` calls of `operation` counted from now
        (`always=True`: every call from the `nth` on). The first rule that applies wins.
        """
        self._check_operation(operation)
        choices: tuple[tuple[FaultKind, bool], ...] = (
            ("error", status is not None),
            ("hang", hang is not None),
            ("drop", drop),
            ("drop-mid-body", drop_mid_body),
            ("pass", passthrough),
            ("rewrite", rewrite is not None),
        )
        kinds = [kind for kind, chosen in choices if chosen]
        if len(kinds) != 1:
            raise ValueError(
                "give exactly one of status=, hang=, drop=, drop_mid_body=, passthrough=, rewrite="
            )
        kind = kinds[0]
        if kind != "error" and (code or message or headers):
            raise ValueError("code=, message= and headers= only go with status=")
        if forward and kind in ("pass", "drop-mid-body", "rewrite"):
            raise ValueError(f"forward=True makes no sense with {kind}")
        if kind == "error":
            assert status is not None
            if not 400 <= status <= 599:
                raise ValueError(f"status must be an HTTP error (4xx/5xx), got {status}")
            if code is None:  # fail now, not inside the request, when there is no default
                default_error_code("", status)
        if kind == "hang" and (hang is None or hang <= 0):
            raise ValueError("hang= takes a positive number of seconds (math.inf allowed)")
        if nth < 1 or times < 1:
            raise ValueError("nth and times count from 1")
        rule = Rule(
            operation=operation,
            fault=Fault(
                kind=kind,
                status=status or 0,
                code=code or "",
                message=message or "",
                seconds=hang or 0.0,
                forward=forward,
                headers=tuple((headers or {}).items()),
                rewrite=rewrite,
            ),
            first=nth,
            times=math.inf if always else times,
        )
        with self._lock:
            self._state.rules.append(rule)
        return rule

    def reset(self) -> None:
        """Forget every rule, recorded call and counter."""
        with self._lock:
            self._state = _State()

    # ---- what happened

    def calls(self, operation: str = ANY) -> list[Call]:
        """The calls of `operation` (bare name, ``service:Name`` or ``*``), oldest first."""
        if operation != ANY:
            self._check_operation(operation)
        with self._lock:
            recorded = list(self._state.calls)
        return [c for c in recorded if c.matches(operation)]

    def count(self, operation: str = ANY) -> int:
        """How many requests for `operation` the proxy received (faulted or not)."""
        return len(self.calls(operation))

    def forwarded(self, operation: str = ANY) -> int:
        """How many requests for `operation` reached moto (so took effect there)."""
        return sum(c.forwarded for c in self.calls(operation))

    def operations(self) -> list[str]:
        """The operation of every request, in order: handy in assertion messages."""
        return [c.operation for c in self.calls()]

    # ---- used by the handler threads

    def _decide(self, operation: Operation, method: str, path: str) -> tuple[Fault, int]:
        with self._lock:
            state = self._state
            key = f"{operation.service}:{operation.name}"
            number = state.counters.get(key, 0) + 1
            state.counters[key] = number
            chosen: Fault | None = None
            for rule in state.rules:
                # Every rule counts the call, also when an earlier rule already applies to it.
                if rule.offer(operation) and chosen is None:
                    rule.fired += 1
                    chosen = rule.fault
            fault = chosen or Fault(kind="pass")
            state.calls.append(
                Call(
                    operation=operation.name,
                    service=operation.service,
                    method=method,
                    path=path,
                    number=number,
                    fault=fault.kind,
                    status=None,
                    forwarded=False,
                )
            )
            return fault, len(state.calls) - 1

    def _update(self, index: int, **changes: Any) -> None:
        with self._lock:
            calls = self._state.calls
            if index < len(calls):  # a reset() in between forgets the call
                calls[index] = replace(calls[index], **changes)

    def _check_operation(self, operation: str) -> None:
        if operation not in (ANY, UNKNOWN) and operation not in known_operations():
            raise ValueError(
                f"unknown operation {operation!r}: use botocore's name (e.g. "
                f"'PublishLayerVersion') of a service in {SERVICES}, or '*'"
            )
