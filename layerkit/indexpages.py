"""Which files an index offers for a project: the one place layerkit reads an index itself.

Installers read indexes; layerkit asks them (`layerkit.installer`). One question they cannot
answer: for a glibc 2.26 target, which uv cannot name, which releases of a project have a wheel
pip would install on the target (`releases_the_target_takes`)? With that, uv's resolution for
manylinux_2_28 can be held to those releases (`layerkit.uvchoice`), and pip need not run. So
this reads a project's page (PEP 691 JSON, else PEP 503 HTML) from the single index uv used,
with each file's yank mark and Requires-Python, as pip reads them. Any doubt — a page that
cannot be read, needs credentials, is cut short, too large or does not parse — is an answer of
None, and pip resolves as before.

The page is untrusted input: read up to `MAX_PAGE_BYTES`, each socket operation within
`TIMEOUT_SECONDS`. Pages are kept for the process (a build lasts seconds, and its targets and
old-versions probes ask for the same ones); so is a failure, which leaves the rest of the build
to pip.
"""

from __future__ import annotations

import functools
import json
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from layerkit.targets import Target

MAX_PAGE_BYTES = 16 << 20  # numpy's JSON page, ~4,400 files since 2006: 1.9 MB
TIMEOUT_SECONDS = 30.0
_JSON = "application/vnd.pypi.simple.v1+json"
_MAX_TAGS = 4096  # tags one wheel name may compress; real names compress a few dozen


@dataclass(frozen=True)
class IndexFile:
    """One file of a project's page: its name, whether it is yanked, its Requires-Python."""

    filename: str
    yanked: bool = False
    requires_python: str = ""


class _Anchors(HTMLParser):
    """The files a PEP 503 page links to (each anchor's URL, last path segment)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[IndexFile] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        href = values.get("href") if tag == "a" else None
        if href:
            name = urllib.parse.unquote(urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1])
            rp = values.get("data-requires-python") or ""
            self.files.append(IndexFile(name, "data-yanked" in values, rp))


class _SameOrSaferRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to http(s), and never from https down to http."""

    def redirect_request(  # noqa: PLR0917 - urllib's own signature
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:  # fmt: skip
        old, new = urllib.parse.urlsplit(req.full_url).scheme, urllib.parse.urlsplit(newurl).scheme
        if new not in {"http", "https"} or (old == "https" and new == "http"):
            return None  # urllib then raises HTTPError: no answer, pip resolves
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOrSaferRedirects)


def _read_page(url: str) -> tuple[bytes, str] | None:
    request = urllib.request.Request(url, headers={"Accept": f"{_JSON}, text/html;q=0.1"})  # noqa: S310 - http(s) only, checked by the caller
    with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
        body = response.read(MAX_PAGE_BYTES + 1)
        declared = response.headers.get("Content-Length")
        content_type = response.headers.get_content_type()
    if len(body) > MAX_PAGE_BYTES or (declared is not None and int(declared) != len(body)):
        return None  # too large, or cut short: a page missing releases would mislead
    return body, content_type


@functools.lru_cache(maxsize=32)
def project_files(index_url: str, project: str) -> tuple[IndexFile, ...] | None:
    """The files `index_url` offers for `project`, or None if its page cannot be read as a
    whole (unreachable, not found, credentials needed, cut short, too large, not a simple
    index page). An index URL with credentials in it is not read: layerkit never handles them."""
    parts = urllib.parse.urlsplit(index_url)
    if parts.scheme not in {"http", "https"} or "@" in parts.netloc:
        return None
    url = f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
    try:
        read = _read_page(url)
        if read is None:
            return None
        body, content_type = read
        if content_type == _JSON:
            return tuple(
                IndexFile(
                    str(f["filename"]),
                    bool(f.get("yanked", False)),
                    str(f.get("requires-python") or ""),
                )
                for f in json.loads(body)["files"]
            )
        parser = _Anchors()
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
    # Whatever a hostile or broken index does (http.client's InvalidURL, BadStatusLine,
    # IncompleteRead; a JSON of another shape), pip resolves instead: never a failed build.
    except Exception:
        return None
    return tuple(parser.files)


@functools.lru_cache(maxsize=1024)
def _python_allowed(requires_python: str, python: str) -> bool:
    """Whether a file's Requires-Python admits `python` (pip: an unreadable one does not
    exclude the file). Kept: a page repeats a few strings over thousands of files, and
    packaging's parse and check of each was a quarter of the GIL's time in a build of numpy +
    pandas for python3.11/3.12 x x86_64/arm64 (py-spy --gil), before."""
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


def _may_carry_a_target_tag(filename: str, accepted: Mapping[str, int]) -> bool:
    """Whether the tags in `filename`'s last three fields (as `parse_wheel_filename` expands
    and lowercases them) include one of `accepted`: most files of a page are for other
    platforms, and this turns them away before their names and versions are parsed. A name
    compressing more than `_MAX_TAGS` tags is turned away too: no real wheel does, and the
    page is untrusted input whose names would cost the product of their fields to expand
    (packaging's parse would expand them all)."""
    fields = filename.removesuffix(".whl").split("-")
    if len(fields) < 5:
        return True  # no wheel name: the full parse says so
    interpreters, abis, platforms = (field.lower().split(".") for field in fields[-3:])
    if len(interpreters) * len(abis) * len(platforms) > _MAX_TAGS:
        return False
    return any(f"{i}-{a}-{p}" in accepted for i in interpreters for a in abis for p in platforms)


def takeable(file: IndexFile, project: str, target: Target) -> Version | None:
    """The release of `file` if pip would install it on `target` (a wheel of `project` with a
    tag of the target, not yanked, its Requires-Python admitting the target), else None."""
    accepted = target.wheel_tag_ranks
    if file.yanked or not _may_carry_a_target_tag(file.filename, accepted):
        return None
    try:
        name, version, _, tags = parse_wheel_filename(file.filename)
    except InvalidWheelFilename:
        return None
    if name != canonicalize_name(project) or not any(str(tag) in accepted for tag in tags):
        return None
    return version if _python_allowed(file.requires_python, target.python) else None


def releases_the_target_takes(
    files: Iterable[IndexFile], project: str, target: Target
) -> frozenset[Version]:
    """The releases of `project` among `files` with a wheel pip would install on `target`
    (`takeable`). A name that is no wheel's counts for nothing (layerkit installs wheels only)."""
    found = (takeable(file, project, target) for file in files)
    return frozenset(v for v in found if v is not None)
