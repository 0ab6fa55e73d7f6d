"""The fault proxy forwards faithfully and injects AWS faults so botocore sees the real thing."""

from __future__ import annotations

import email.message
import http.client
import io
import math
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.faultproxy import FaultProxy, _read_chunked, identify

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

# The services these tests call through the proxy; `client()` returns each one's typed client.
Service = Literal["lambda", "s3", "iam", "sts", "cloudwatch"]

ROLE_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


@pytest.fixture(autouse=True)
def _no_host_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 clients in this process must not read the host's AWS configuration."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@overload
def client(
    service: Literal["lambda"], endpoint: str, *, attempts: int = ..., read_timeout: float = ...
) -> LambdaClient: ...
@overload
def client(
    service: Literal["s3"], endpoint: str, *, attempts: int = ..., read_timeout: float = ...
) -> S3Client: ...
@overload
def client(
    service: Literal["iam"], endpoint: str, *, attempts: int = ..., read_timeout: float = ...
) -> IAMClient: ...
@overload
def client(
    service: Literal["sts"], endpoint: str, *, attempts: int = ..., read_timeout: float = ...
) -> STSClient: ...
@overload
def client(
    service: Literal["cloudwatch"], endpoint: str, *, attempts: int = ..., read_timeout: float = ...
) -> CloudWatchClient: ...
def client(
    service: Service, endpoint: str, *, attempts: int = 1, read_timeout: float = 10.0
) -> object:
    """A boto3 client for `endpoint`; `attempts` counts the first try (botocore's total)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=2,
            read_timeout=read_timeout,
        ),
    )


def layer_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/mod.py", "X = 1\n")
    return buffer.getvalue()


def layer_versions(endpoint: str, name: str) -> list[int]:
    listed = client("lambda", endpoint).list_layer_versions(LayerName=name)
    return sorted(v["Version"] for v in listed["LayerVersions"])


def publish(lam: Any, name: str = "deps") -> int:
    return int(
        lam.publish_layer_version(LayerName=name, Content={"ZipFile": layer_zip()})["Version"]
    )


def create_function(endpoint: str, name: str = "fn") -> None:
    role = client("iam", endpoint).create_role(
        RoleName="lambda-role", AssumeRolePolicyDocument=ROLE_POLICY
    )
    client("lambda", endpoint).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="mod.handler",
        Code={"ZipFile": layer_zip()},
    )


def headers(**values: str) -> email.message.Message:
    message = email.message.Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def signed(service: str) -> email.message.Message:
    scope = f"Credential=testing/20260101/us-east-1/{service}/aws4_request"
    return headers(Authorization=f"AWS4-HMAC-SHA256 {scope}, SignedHeaders=host, Signature=0")


# --------------------------------------------------------------------------- naming operations


@pytest.mark.parametrize(
    ("service", "method", "target", "expected"),
    [
        ("lambda", "POST", "/2018-10-31/layers/deps/versions", "PublishLayerVersion"),
        ("lambda", "GET", "/2018-10-31/layers/deps/versions", "ListLayerVersions"),
        ("lambda", "GET", "/2018-10-31/layers/deps/versions/3", "GetLayerVersion"),
        ("lambda", "GET", "/2018-10-31/layers?find=LayerVersion&Arn=x", "GetLayerVersionByArn"),
        ("lambda", "GET", "/2018-10-31/layers", "ListLayers"),
        ("lambda", "PUT", "/2015-03-31/functions/fn/configuration", "UpdateFunctionConfiguration"),
        ("lambda", "GET", "/2015-03-31/functions/fn/configuration", "GetFunctionConfiguration"),
        ("lambda", "GET", "/2015-03-31/functions/fn", "GetFunction"),
        ("lambda", "POST", "/2015-03-31/functions/fn/versions", "PublishVersion"),
        ("lambda", "GET", "/2015-03-31/functions/fn/versions", "ListVersionsByFunction"),
        ("lambda", "POST", "/2015-03-31/functions/fn/aliases", "CreateAlias"),
        ("lambda", "GET", "/2015-03-31/functions/fn/aliases", "ListAliases"),
        ("lambda", "GET", "/2015-03-31/functions/fn/aliases/live", "GetAlias"),
        ("lambda", "PUT", "/2015-03-31/functions/fn/aliases/live", "UpdateAlias"),
        ("lambda", "DELETE", "/2015-03-31/functions/fn/aliases/live", "DeleteAlias"),
        ("s3", "PUT", "/bkt/a/b.zip?partNumber=2&uploadId=u1", "UploadPart"),
        ("s3", "POST", "/bkt/a/b.zip?uploads", "CreateMultipartUpload"),
        ("s3", "POST", "/bkt/a/b.zip?uploadId=u1", "CompleteMultipartUpload"),
        ("s3", "DELETE", "/bkt/a/b.zip?uploadId=u1", "AbortMultipartUpload"),
        ("s3", "GET", "/bkt/a/b.zip?uploadId=u1", "ListParts"),
        ("s3", "PUT", "/bkt/a/b.zip", "PutObject"),
        ("s3", "HEAD", "/bkt/a/b.zip", "HeadObject"),
        ("s3", "GET", "/bkt/a/b.zip", "GetObject"),
        ("s3", "DELETE", "/bkt/a/b.zip", "DeleteObject"),
        ("s3", "GET", "/bkt?uploads", "ListMultipartUploads"),
        ("s3", "GET", "/bkt?list-type=2&prefix=a", "ListObjectsV2"),
        ("s3", "PUT", "/bkt", "CreateBucket"),
        ("s3", "HEAD", "/bkt", "HeadBucket"),
        ("s3", "GET", "/", "ListBuckets"),
        (
            "monitoring",
            "POST",
            "/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
            "DescribeAlarms",
        ),
    ],
)
def test_names_rest_operations_from_botocore_models(
    service: str, method: str, target: str, expected: str
) -> None:
    operation = identify(method, target, signed(service), None)
    assert operation is not None
    assert operation.name == expected


def test_reads_a_chunked_body_with_its_trailers_and_framing() -> None:
    raw = b"6;ext=1\r\nfirst-\r\n5\r\nthird\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n"
    stream = io.BytesIO(raw + b"GET /next HTTP/1.1\r\n")
    assert _read_chunked(stream) == raw
    assert stream.read() == b"GET /next HTTP/1.1\r\n"  # the next request is left alone


def test_copy_needs_its_header_to_be_told_from_put_object() -> None:
    copy = signed("s3")
    copy["x-amz-copy-source"] = "bkt/other"
    assert identify("PUT", "/bkt/key", copy, None).name == "CopyObject"  # type: ignore[union-attr]
    assert identify("PUT", "/bkt/key", signed("s3"), None).name == "PutObject"  # type: ignore[union-attr]


def test_names_query_and_json_operations() -> None:
    form = signed("sts")
    form["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    assert identify("POST", "/", form, None) is None  # the body holds the Action
    sts = identify("POST", "/", form, b"Action=GetCallerIdentity&Version=2011-06-15")
    assert sts is not None
    assert (sts.service, sts.name, sts.protocol) == ("sts", "GetCallerIdentity", "query")
    target = headers(X_Amz_Target="GraniteServiceVersion20100801.SetAlarmState")
    cloudwatch = identify("POST", "/", target, None)
    assert cloudwatch is not None
    assert (cloudwatch.service, cloudwatch.name, cloudwatch.protocol) == (
        "cloudwatch",
        "SetAlarmState",
        "json",
    )


def test_unknown_operation_names_are_refused(fault_proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        fault_proxy.add_fault("PublishLayerVersions", status=500)
    with pytest.raises(ValueError, match="exactly one"):
        fault_proxy.add_fault("PublishLayerVersion", status=500, drop=True)
    with pytest.raises(ValueError, match="no default error code"):
        fault_proxy.add_fault("PublishLayerVersion", status=418)
    assert fault_proxy.add_fault("lambda:PublishLayerVersion", status=418, code="Teapot")


# --------------------------------------------------------------------------- pass-through


def test_passes_lambda_calls_through_and_records_them(fault_proxy: FaultProxy) -> None:
    lam = client("lambda", fault_proxy.endpoint)
    assert publish(lam) == 1
    assert publish(lam) == 2
    listed = lam.list_layer_versions(LayerName="deps")["LayerVersions"]
    assert sorted(v["Version"] for v in listed) == [1, 2]

    calls = fault_proxy.calls("PublishLayerVersion")
    assert [(c.number, c.status, c.forwarded, c.fault) for c in calls] == [
        (1, 201, True, "pass"),
        (2, 201, True, "pass"),
    ]
    assert fault_proxy.operations() == [
        "PublishLayerVersion",
        "PublishLayerVersion",
        "ListLayerVersions",
    ]


def test_passes_a_multipart_upload_through_byte_for_byte(fault_proxy: FaultProxy) -> None:
    s3 = client("s3", fault_proxy.endpoint)
    s3.create_bucket(Bucket="layers")
    data = os.urandom(11 * 1024 * 1024)
    five_mib = 5 * 1024 * 1024
    s3.upload_fileobj(
        io.BytesIO(data),
        "layers",
        "deps.zip",
        Config=TransferConfig(multipart_threshold=five_mib, multipart_chunksize=five_mib),
    )
    assert s3.head_object(Bucket="layers", Key="deps.zip")["ContentLength"] == len(data)
    assert s3.get_object(Bucket="layers", Key="deps.zip")["Body"].read() == data
    assert fault_proxy.count("CreateMultipartUpload") == 1
    assert fault_proxy.count("UploadPart") == 3
    assert fault_proxy.count("CompleteMultipartUpload") == 1


def test_relays_a_chunked_request_body_unchanged(fault_proxy: FaultProxy) -> None:
    s3 = client("s3", fault_proxy.endpoint)
    s3.create_bucket(Bucket="layers")
    port = int(fault_proxy.endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "PUT",
            "/layers/chunked.bin",
            body=iter([b"first-", b"second-", b"third"]),
            headers={"Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    body = s3.get_object(Bucket="layers", Key="chunked.bin")["Body"].read()
    assert body == b"first-second-third"
    assert fault_proxy.calls("PutObject")[0].forwarded


# --------------------------------------------------------------------------- status faults


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (409, "ResourceConflictException"),
        (412, "PreconditionFailedException"),
        (429, "TooManyRequestsException"),
        (500, "ServiceException"),
        (503, "ServiceException"),
    ],
)
def test_lambda_errors_reach_botocore_with_their_code(
    fault_proxy: FaultProxy, status: int, code: str
) -> None:
    fault_proxy.add_fault("PublishLayerVersion", status=status)
    lam = client("lambda", fault_proxy.endpoint)
    with pytest.raises(ClientError) as caught:
        publish(lam)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    # The faulted request never reached moto: nothing was published.
    assert layer_versions(fault_proxy.endpoint, "deps") == []
    assert fault_proxy.forwarded("PublishLayerVersion") == 0


def test_conflict_says_an_update_is_in_progress_as_lambda_does(fault_proxy: FaultProxy) -> None:
    create_function(fault_proxy.endpoint)
    fault_proxy.add_fault("UpdateFunctionConfiguration", status=409)
    lam = client("lambda", fault_proxy.endpoint)
    with pytest.raises(lam.exceptions.ResourceConflictException) as caught:
        lam.update_function_configuration(FunctionName="fn", Timeout=30)
    assert "An update is in progress" in caught.value.response["Error"]["Message"]
    lam.update_function_configuration(FunctionName="fn", Timeout=30)
    assert [c.status for c in fault_proxy.calls("UpdateFunctionConfiguration")] == [409, 200]


def test_errors_speak_each_services_protocol(fault_proxy: FaultProxy) -> None:
    endpoint = fault_proxy.endpoint
    fault_proxy.add_fault("UploadPart", status=503)
    fault_proxy.add_fault("GetCallerIdentity", status=400, code="ExpiredToken", message="old")
    fault_proxy.add_fault("DescribeAlarms", status=429)
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket="layers")
    upload = s3.create_multipart_upload(Bucket="layers", Key="deps.zip")["UploadId"]
    with pytest.raises(ClientError) as s3_error:
        s3.upload_part(Bucket="layers", Key="deps.zip", UploadId=upload, PartNumber=1, Body=b"x")
    with pytest.raises(ClientError) as sts_error:
        client("sts", endpoint).get_caller_identity()
    with pytest.raises(ClientError) as cloudwatch_error:
        client("cloudwatch", endpoint).describe_alarms()
    assert s3_error.value.response["Error"]["Code"] == "SlowDown"
    assert sts_error.value.response["Error"] == {
        "Type": "Sender",
        "Code": "ExpiredToken",
        "Message": "old",
    }
    assert cloudwatch_error.value.response["Error"]["Code"] == "Throttling"
    assert cloudwatch_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_error_after_forwarding_takes_effect_in_moto(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("PublishLayerVersion", status=500, forward=True)
    with pytest.raises(ClientError):
        publish(client("lambda", fault_proxy.endpoint))
    assert layer_versions(fault_proxy.endpoint, "deps") == [1]
    assert fault_proxy.forwarded("PublishLayerVersion") == 1


def test_rewrite_patches_the_json_answer_moto_gave(fault_proxy: FaultProxy) -> None:
    create_function(fault_proxy.endpoint)
    fault_proxy.add_fault(
        "GetFunctionConfiguration", rewrite={"LastUpdateStatus": "InProgress"}, times=2
    )
    fault_proxy.add_fault("GetFunction", rewrite=lambda doc: {**doc, "Tags": {"k": "v"}})
    lam = client("lambda", fault_proxy.endpoint)
    seen = [lam.get_function_configuration(FunctionName="fn") for _ in range(3)]
    assert [c["LastUpdateStatus"] for c in seen] == ["InProgress", "InProgress", "Successful"]
    assert {c["FunctionName"] for c in seen} == {"fn"}  # the rest of moto's answer is kept
    assert lam.get_function(FunctionName="fn")["Tags"] == {"k": "v"}
    assert fault_proxy.forwarded("GetFunctionConfiguration") == 3


def test_rewrite_leaves_error_answers_alone(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("GetFunctionConfiguration", rewrite={"State": "Pending"})
    lam = client("lambda", fault_proxy.endpoint)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_configuration(FunctionName="missing")
    assert fault_proxy.forwarded("GetFunctionConfiguration") == 1


def test_rewrite_goes_alone(fault_proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        fault_proxy.add_fault("GetFunction", rewrite={"a": 1}, status=500)
    with pytest.raises(ValueError, match="makes no sense"):
        fault_proxy.add_fault("GetFunction", rewrite={"a": 1}, forward=True)


# --------------------------------------------------------------------------- which calls


def test_times_fails_the_first_calls_then_botocore_retries_to_success(
    fault_proxy: FaultProxy,
) -> None:
    rule = fault_proxy.add_fault("ListLayers", status=503, times=2)
    client("lambda", fault_proxy.endpoint, attempts=3).list_layers()
    assert [c.status for c in fault_proxy.calls("ListLayers")] == [503, 503, 200]
    assert (rule.seen, rule.fired) == (3, 2)


def test_throttling_is_retried_by_botocore(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("ListLayers", status=429)
    client("lambda", fault_proxy.endpoint, attempts=2).list_layers()
    assert [c.status for c in fault_proxy.calls("ListLayers")] == [429, 200]


def test_conflict_is_not_retried_by_botocore(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("ListLayers", status=409)
    with pytest.raises(ClientError):
        client("lambda", fault_proxy.endpoint, attempts=3).list_layers()
    assert fault_proxy.count("ListLayers") == 1


def test_nth_picks_one_call_and_counts_per_operation(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("ListLayerVersions", status=500, nth=2)
    lam = client("lambda", fault_proxy.endpoint)
    lam.list_layers()  # another operation does not advance the count
    lam.list_layer_versions(LayerName="deps")
    with pytest.raises(ClientError):
        lam.list_layer_versions(LayerName="deps")
    lam.list_layer_versions(LayerName="deps")
    assert [c.status for c in fault_proxy.calls("ListLayerVersions")] == [200, 500, 200]
    assert [c.number for c in fault_proxy.calls("ListLayerVersions")] == [1, 2, 3]


def test_first_applying_rule_wins_and_passthrough_exempts(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("ListLayers", passthrough=True, nth=2)
    fault_proxy.add_fault("*", status=503, always=True)
    lam = client("lambda", fault_proxy.endpoint)
    outcomes = []
    for _ in range(3):
        try:
            lam.list_layers()
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    assert outcomes == ["ServiceException", "ok", "ServiceException"]
    with pytest.raises(ClientError):
        lam.list_functions()


def test_reset_forgets_rules_calls_and_counters(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("ListLayers", status=500, always=True)
    lam = client("lambda", fault_proxy.endpoint)
    with pytest.raises(ClientError):
        lam.list_layers()
    fault_proxy.reset()
    assert fault_proxy.calls() == []
    lam.list_layers()
    assert [(c.number, c.status) for c in fault_proxy.calls("ListLayers")] == [(1, 200)]


# --------------------------------------------------------------------------- lost answers


def test_hang_outlasts_the_read_timeout(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("GetFunctionConfiguration", hang=math.inf)
    lam = client("lambda", fault_proxy.endpoint, read_timeout=0.5)
    threads = threading.active_count()
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        lam.get_function_configuration(FunctionName="fn")
    assert time.monotonic() - started < 3
    [call] = fault_proxy.calls("GetFunctionConfiguration")
    assert (call.fault, call.status, call.forwarded) == ("hang", None, False)
    # The client hung up, so the proxy stops hanging: its handler thread ends.
    deadline = time.monotonic() + 2
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == threads


def test_drop_closes_without_an_answer(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault("PublishLayerVersion", drop=True)
    with pytest.raises(ConnectionClosedError):
        publish(client("lambda", fault_proxy.endpoint))
    assert layer_versions(fault_proxy.endpoint, "deps") == []
    [call] = fault_proxy.calls("PublishLayerVersion")
    assert (call.fault, call.status, call.forwarded) == ("drop", None, False)
    assert call.received > 0  # the whole request was read before the connection closed


def test_lost_response_after_forwarding_then_a_retry_duplicates(fault_proxy: FaultProxy) -> None:
    """The hazard layerkit must guard against: PublishLayerVersion has no idempotency token."""
    fault_proxy.add_fault("PublishLayerVersion", drop=True, forward=True)
    assert publish(client("lambda", fault_proxy.endpoint, attempts=2)) == 2
    assert layer_versions(fault_proxy.endpoint, "deps") == [1, 2]
    assert [(c.status, c.forwarded) for c in fault_proxy.calls("PublishLayerVersion")] == [
        (None, True),
        (201, True),
    ]


def test_drop_mid_body_cuts_an_upload_part(fault_proxy: FaultProxy) -> None:
    s3 = client("s3", fault_proxy.endpoint)
    s3.create_bucket(Bucket="layers")
    upload = s3.create_multipart_upload(Bucket="layers", Key="deps.zip")["UploadId"]
    fault_proxy.add_fault("UploadPart", drop_mid_body=True)
    part = os.urandom(5 * 1024 * 1024)
    with pytest.raises((ConnectionClosedError, ConnectionError)):
        s3.upload_part(Bucket="layers", Key="deps.zip", UploadId=upload, PartNumber=1, Body=part)
    assert "Parts" not in s3.list_parts(Bucket="layers", Key="deps.zip", UploadId=upload)
    [call] = fault_proxy.calls("UploadPart")
    assert (call.fault, call.status, call.forwarded) == ("drop-mid-body", None, False)
    assert 0 < call.received < len(part)


# --------------------------------------------------------------------------- lifecycle


def stop_within(proxy: FaultProxy, *, seconds: float) -> None:
    """Stop the proxy, failing (rather than hanging the run) if that takes too long."""
    stopper = threading.Thread(target=proxy.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=seconds)
    assert not stopper.is_alive(), f"FaultProxy.stop() took more than {seconds}s"


def test_stop_releases_a_hanging_request_and_closes_everything(moto_endpoint: str) -> None:
    threads_before = threading.active_count()
    proxy = FaultProxy(moto_endpoint).start()
    port = int(proxy.endpoint.rsplit(":", 1)[1])
    proxy.add_fault("ListLayers", hang=math.inf)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client("lambda", proxy.endpoint, read_timeout=30).list_layers()
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while proxy.count("ListLayers") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop_within(proxy, seconds=2)
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConnectionClosedError)
    assert threading.active_count() == threads_before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    assert proxy.errors == []


def test_stop_does_not_wait_for_idle_keepalive_clients(
    moto_endpoint: str,
) -> None:
    proxy = FaultProxy(moto_endpoint).start()
    port = int(proxy.endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), 2) as idle:
        idle.sendall(b"GET /2018-10-31/layers HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(100).startswith(b"HTTP/1.1 ")  # answered, and the connection kept
        stop_within(proxy, seconds=2)


def test_faulty_aws_env_routes_a_subprocess_through_the_proxy(
    fault_proxy: FaultProxy, faulty_aws_env: dict[str, str]
) -> None:
    """What CLI tests rely on: AWS_ENDPOINT_URL, credentials and region from the environment."""
    fault_proxy.add_fault("ListLayers", status=409)
    script = (
        "import boto3, botocore.exceptions as e\n"
        "c = boto3.client('lambda')\n"
        "try:\n"
        "    c.list_layers()\n"
        "except e.ClientError as x:\n"
        "    print(x.response['Error']['Code'])\n"
        "print(len(c.list_layers()['Layers']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=faulty_aws_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ResourceConflictException", "0"]
    assert [c.status for c in fault_proxy.calls("ListLayers")] == [409, 200]
