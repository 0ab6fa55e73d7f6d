"""Which files an index offers for a project: the one place layerkit reads an index itself.

Installers read indexes; layerkit asks them (`layerkit.installer`). One question they cannot
answer: for a glibc 2.26 target, which uv cannot name, which releases of a project have a wheel
the target loads (`releases_the_target_takes`)? With that, uv's resolution for manylinux_2_28
can be held to those releases (`layerkit.uvchoice`), and pip need not run. So this reads a
project's page (PEP 691 JSON, else PEP 503 HTML) from the single index uv says it used. Any
doubt — a page that cannot be read, is too large or does not parse — is an answer of None, and
pip resolves as before.

The page is untrusted input: it is read up to `MAX_PAGE_BYTES`, within `TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import functools
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from html.parser import HTMLParser

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from layerkit.targets import Target

MAX_PAGE_BYTES = 64 << 20  # numpy's JSON page, ~4,400 files since 2006: 1.9 MB
TIMEOUT_SECONDS = 30.0
_JSON = "application/vnd.pypi.simple.v1+json"


class _Anchors(HTMLParser):
    """The file names a PEP 503 page links to (each anchor's URL, last path segment)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            path = urllib.parse.urlsplit(href).path
            self.names.append(urllib.parse.unquote(path.rsplit("/", 1)[-1]))


@functools.lru_cache(maxsize=32)
def project_filenames(index_url: str, project: str) -> tuple[str, ...] | None:
    """The names of the files `index_url` offers for `project`, or None if its page cannot be
    read (unreachable, not found, credentials needed, too large, not a simple index page).
    Read once per process: a build's targets and its old-versions probe ask for the same
    pages, and a build lasts seconds."""
    if urllib.parse.urlsplit(index_url).scheme not in {"http", "https"}:
        return None
    url = f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
    # http(s) only, checked above
    request = urllib.request.Request(url, headers={"Accept": f"{_JSON}, text/html;q=0.1"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(MAX_PAGE_BYTES + 1)
            content_type = response.headers.get_content_type()
    except (OSError, ValueError):  # URLError and HTTPError are OSErrors
        return None
    if len(body) > MAX_PAGE_BYTES:
        return None
    if content_type == _JSON:
        try:
            files = json.loads(body)["files"]
            return tuple(str(f["filename"]) for f in files)
        except (ValueError, KeyError, TypeError, RecursionError):
            return None
    parser = _Anchors()
    try:
        parser.feed(body.decode("utf-8", errors="replace"))
    except (ValueError, AssertionError):  # html.parser's own complaints
        return None
    return tuple(parser.names)


def releases_the_target_takes(filenames: Iterable[str], target: Target) -> frozenset[Version]:
    """The releases among `filenames` with a wheel `target` loads: one with a tag of the target
    (`Target.wheel_tag_ranks`), as pip judges it. A name that is no wheel's counts for nothing
    (pip skips it too; layerkit installs wheels only)."""
    accepted = target.wheel_tag_ranks
    found: set[Version] = set()
    for name in filenames:
        try:
            _, version, _, tags = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        if any(str(tag) in accepted for tag in tags):
            found.add(version)
    return frozenset(found)
