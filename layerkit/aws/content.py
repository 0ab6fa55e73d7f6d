"""Which distributions a published layer version ships, for the overlap check of `attach`.

Lambda keeps no list of a layer's packages, so layerkit finds them in this order:
1. the layer version's description records the zip's sha256 (layerkit published it) and a local
   manifest with that digest is at hand (the zips being published, the project's output dir);
2. ``GetLayerVersion``'s ``Content.Location`` is a pre-signed HTTPS URL (real AWS): only the zip's
   central directory is read, with HTTP range requests, never the whole zip;
3. otherwise (another tool's layer without a download, or an emulator whose Location is not a
   URL) the contents are unknown, and the attach result says it could not check.
"""

from __future__ import annotations

import io
import re
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from layerkit.aws.errors import aws_call
from layerkit.aws.layers import parse_recorded
from layerkit.aws.rules import parse_layer_version_arn
from layerkit.errors import AwsError, LambdaRuleError, LayerkitError
from layerkit.safezip import central_names

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient

Distributions = frozenset[str]
Finder = Callable[[str], Distributions | None]
_DIST_INFO_RE = re.compile(r"(?:^|/)([^/]+)-[^/-]+\.dist-info/METADATA$")
_SEPARATORS = re.compile(r"[-_.]+")
_TIMEOUT_S = 30.0


def canonical(name: str) -> str:
    """PEP 503's normal form: how distributions are compared and named in messages."""
    return _SEPARATORS.sub("-", name).lower()


def distributions_in(names: list[str]) -> Distributions:
    """The distributions whose ``*.dist-info/METADATA`` is among the zip member `names`."""
    return frozenset(canonical(m[1]) for n in names if (m := _DIST_INFO_RE.search(n)))


class _HttpRange(io.RawIOBase):
    """A seekable read-only view of a URL, reading only the ranges asked for."""

    def __init__(self, url: str, size: int) -> None:
        self._url, self._size, self._pos = url, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        # Only the URLs download_listing allows get here (https in production).
        request = urllib.request.Request(  # noqa: S310
            self._url, headers={"Range": f"bytes={self._pos}-{self._pos + want - 1}"}
        )
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as answer:  # noqa: S310
            data = answer.read(want)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def download_listing(
    url: str, size: int, *, schemes: tuple[str, ...] = ("https://",)
) -> Distributions | None:
    """The distributions in the zip at `url` (an https URL of `size` bytes), or None."""
    if not url.startswith(schemes) or size <= 0:
        return None
    try:
        with io.BufferedReader(_HttpRange(url, size), 1 << 16) as handle:
            return distributions_in(list(central_names(handle, "the layer version's zip")))
    except (OSError, LayerkitError, ValueError):
        return None


def make_finder(
    client: LambdaClient,
    manifests: Mapping[str, Distributions],
    *,
    download: Callable[[str, int], Distributions | None] = download_listing,
) -> Finder:
    """A lookup layer version ARN -> its distributions (None if unknown), remembered per ARN.

    `manifests` maps a zip's sha256 (hex) to the distributions its local manifest lists.
    """
    known: dict[str, Distributions | None] = {}

    def find(arn: str) -> Distributions | None:
        if arn not in known:
            known[arn] = _find(arn)
        return known[arn]

    def _find(arn: str) -> Distributions | None:
        parsed = parse_layer_version_arn(arn)
        try:
            with aws_call("GetLayerVersion", f"layer version {arn}"):
                answer = client.get_layer_version(
                    LayerName=parsed.layer_arn, VersionNumber=parsed.version
                )
        except AwsError:  # another account's layer we may not read, or a deleted version
            return None
        recorded, _ = parse_recorded(str(answer.get("Description", "")))
        if recorded is not None and recorded in manifests:
            return manifests[recorded]
        content = answer.get("Content", {})
        return download(str(content.get("Location", "")), int(content.get("CodeSize", 0)))

    return find


def check_overlap(
    after: tuple[str, ...],
    new_arn: str,
    find: Finder,
    *,
    function: str,
    allow_overlap: bool,
) -> tuple[str, ...]:
    """Refuse a layer list in which the new layer and another ship the same distribution.

    Lambda extracts layers into /opt in order, so the later one's files silently win. Returns
    notes: layers whose contents could not be read, and overlaps allowed on purpose.
    """
    new = find(new_arn)
    if new is None:
        return (f"could not tell which packages {new_arn} ships: overlap not checked",)
    notes: list[str] = []
    clashes: list[str] = []
    for arn in after:
        if arn == new_arn:
            continue
        other = find(arn)
        if other is None:
            notes.append(f"could not tell which packages {arn} ships: overlap not checked")
        elif shared := sorted(new & other):
            clashes.append(f"{', '.join(shared)} (in {new_arn} and {arn})")
    if clashes and not allow_overlap:
        raise LambdaRuleError(
            f"function {function} would get two layers shipping the same distribution: "
            f"{'; '.join(clashes)}; Lambda extracts layers in order, so one silently shadows "
            "the other",
            hint="detach the other layer first (layerkit detach FUNCTION --layer NAME), or pass "
            "--allow-overlap if the shadowing is intended",
        )
    notes.extend(f"overlap allowed: {clash}" for clash in clashes)
    return tuple(notes)
