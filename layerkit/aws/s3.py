"""Layer zips in S3: content-addressed keys, skip when present, multipart that never leaves orphans.

Every call sends ``ExpectedBucketOwner`` so a bucket that changed hands answers 403 instead of
receiving the zip.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from botocore.exceptions import BotoCoreError, ClientError

from layerkit.aws.errors import aws_call, error_code, http_status
from layerkit.aws.rules import check_bucket_name
from layerkit.errors import AwsError, InputFileError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

TransferProgress = Callable[[int, int], None]  # (bytes sent, total bytes)
Now = Callable[[], datetime]

DIGEST_METADATA = "layerkit-sha256"  # x-amz-meta-layerkit-sha256: hex digest of the zip
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
DEFAULT_PART_BYTES = 16 * 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 32 * 1024 * 1024
# A multipart upload of our key older than this is an orphan of a crashed run; younger ones may
# belong to a concurrent run (a CI matrix publishing the same zip) and are left alone.
STALE_UPLOAD_AGE = timedelta(hours=1)

UploadOutcome = Literal["uploaded", "skipped"]


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class UploadResult:
    """Where the zip is and whether this run sent it."""

    bucket: str
    key: str
    outcome: UploadOutcome
    size: int
    parts: int  # 0 when skipped, 1 for a single PUT
    aborted_orphans: int = 0


def content_key(prefix: str, name: str, sha256_hex: str) -> str:
    """``<prefix>/<name>/<sha256>.zip`` — the same bytes always land on the same key."""
    parts = [p for p in (prefix.strip("/"), name, f"{sha256_hex}.zip") if p]
    return "/".join(parts)


def bucket_for_region(template: str, region: str) -> str:
    """Expand ``{region}`` in a bucket name (one bucket per region) and check the result."""
    return check_bucket_name(template.replace("{region}", region))


def _normalise_location(constraint: str | None) -> str:
    # GetBucketLocation answers None for us-east-1 and the legacy 'EU' for eu-west-1.
    if not constraint:
        return "us-east-1"
    if constraint == "EU":
        return "eu-west-1"
    return constraint


def check_bucket_region(s3: S3Client, *, bucket: str, region: str, owner: str) -> None:
    """Refuse a bucket that is not in `region` (Lambda reads the zip from its own region)."""
    with aws_call("s3:GetBucketLocation", f"bucket {bucket}"):
        answer = s3.get_bucket_location(Bucket=bucket, ExpectedBucketOwner=owner)
    location = _normalise_location(answer.get("LocationConstraint"))
    if location != region:
        raise AwsError(
            f"bucket {bucket} is in {location}, but the layer is published to {region}: "
            "Lambda reads the zip from a bucket in its own region",
            hint="use a bucket per region, e.g. --bucket my-artifacts-{region} "
            f"(layerkit replaces {{region}}), or publish to {location}",
        )


def _existing_digest(s3: S3Client, obj: S3Object, owner: str) -> tuple[str, int] | None:
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key, ExpectedBucketOwner=owner)
    except ClientError as exc:
        if http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return str(head.get("Metadata", {}).get(DIGEST_METADATA, "")), int(head["ContentLength"])


def _read_part(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if not data:
        raise InputFileError(f"{handle.name} shrank while it was being uploaded")
    return data


def _abort_stale_uploads(s3: S3Client, obj: S3Object, owner: str, now: Now) -> int:
    with aws_call("s3:ListMultipartUploads", str(obj)):
        listing = s3.list_multipart_uploads(
            Bucket=obj.bucket, Prefix=obj.key, ExpectedBucketOwner=owner
        )
    aborted = 0
    for upload in listing.get("Uploads", []):
        initiated = upload.get("Initiated")
        if upload.get("Key") != obj.key or not isinstance(initiated, datetime):
            continue
        if now() - initiated >= STALE_UPLOAD_AGE:
            with aws_call("s3:AbortMultipartUpload", str(obj)):
                s3.abort_multipart_upload(
                    Bucket=obj.bucket,
                    Key=obj.key,
                    UploadId=upload["UploadId"],
                    ExpectedBucketOwner=owner,
                )
            aborted += 1
    return aborted


def _multipart(
    s3: S3Client,
    obj: S3Object,
    *,
    path: Path,
    size: int,
    sha256_hex: str,
    owner: str,
    part_bytes: int,
    progress: TransferProgress,
) -> int:
    with aws_call("s3:CreateMultipartUpload", str(obj)):
        upload_id = s3.create_multipart_upload(
            Bucket=obj.bucket,
            Key=obj.key,
            Metadata={DIGEST_METADATA: sha256_hex},
            ContentType="application/zip",
            ExpectedBucketOwner=owner,
        )["UploadId"]
    parts: list[CompletedPartTypeDef] = []
    try:
        with path.open("rb") as handle, aws_call("s3:UploadPart", str(obj)):
            sent = 0
            for number in range(1, -(-size // part_bytes) + 1):
                body = _read_part(handle, min(part_bytes, size - sent))
                answer = s3.upload_part(
                    Bucket=obj.bucket,
                    Key=obj.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                    ExpectedBucketOwner=owner,
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                sent += len(body)
                progress(sent, size)
        with aws_call("s3:CompleteMultipartUpload", str(obj)):
            s3.complete_multipart_upload(
                Bucket=obj.bucket,
                Key=obj.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                ExpectedBucketOwner=owner,
            )
    except BaseException:
        # Never leave a half upload behind (S3 bills for its parts); the re-run starts afresh.
        # If the abort fails too, the original failure matters more; a later run aborts it.
        with contextlib.suppress(ClientError, BotoCoreError):
            s3.abort_multipart_upload(
                Bucket=obj.bucket, Key=obj.key, UploadId=upload_id, ExpectedBucketOwner=owner
            )
        raise
    return len(parts)


def ensure_uploaded(
    s3: S3Client,
    *,
    path: Path,
    bucket: str,
    key: str,
    sha256_hex: str,
    owner: str,
    progress: TransferProgress,
    part_bytes: int = DEFAULT_PART_BYTES,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    now: Now = lambda: datetime.now(timezone.utc),
) -> UploadResult:
    """Upload `path` to ``s3://bucket/key`` unless the object already holds the same digest.

    Zips above `multipart_threshold` go up in parts of `part_bytes`; a failure aborts the
    multipart upload. Orphans of crashed earlier runs (older than an hour) are aborted first.
    """
    if part_bytes < MIN_PART_BYTES:
        raise ValueError(f"S3 parts must be at least {MIN_PART_BYTES} bytes")
    obj = S3Object(bucket, key)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from exc
    with aws_call("s3:HeadObject", str(obj)):
        existing = _existing_digest(s3, obj, owner)
    if existing == (sha256_hex, size):
        return UploadResult(bucket, key, "skipped", size, 0)
    if size <= multipart_threshold:
        with path.open("rb") as handle:
            body = handle.read()
        with aws_call("s3:PutObject", str(obj)):
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                Metadata={DIGEST_METADATA: sha256_hex},
                ContentType="application/zip",
                # S3 verifies the bytes it stored against this digest.
                ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii"),
                ExpectedBucketOwner=owner,
            )
        progress(size, size)
        return UploadResult(bucket, key, "uploaded", size, 1)
    aborted = _abort_stale_uploads(s3, obj, owner, now)
    count = _multipart(
        s3,
        obj,
        path=path,
        size=size,
        sha256_hex=sha256_hex,
        owner=owner,
        part_bytes=part_bytes,
        progress=progress,
    )
    return UploadResult(bucket, key, "uploaded", size, count, aborted_orphans=aborted)
