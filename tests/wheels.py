"""Wheels, sdists and a PEP 503 index made by the tests themselves (nothing downloaded)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from packaging.utils import canonicalize_name


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    files: Mapping[str, bytes] | None = None,
    tag: str = "py3-none-any",
    requires: Sequence[str] = (),
) -> Path:
    """Write a valid wheel; `files` maps paths inside site-packages to contents."""
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    contents = dict(files or {f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode()})
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    contents[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    contents[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: layerkit-tests\nRoot-Is-Purelib: "
        f"{'true' if tag.endswith('none-any') else 'false'}\nTag: {tag}\n"
    ).encode()
    record_lines = [f"{path},{record_hash(data)},{len(data)}" for path, data in contents.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def make_sdist(directory: Path, name: str, version: str) -> Path:
    """A source distribution (tar.gz) with a minimal setup.py: something layerkit must refuse."""
    import io
    import tarfile

    dist = name.replace("-", "_")
    base = f"{dist}-{version}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{base}.tar.gz"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    setup = f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n".encode()
    with tarfile.open(path, "w:gz") as tar:
        for member, data in ((f"{base}/PKG-INFO", pkg_info), (f"{base}/setup.py", setup)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _file_sha256(path: Path) -> str:
    # In chunks: the benchmark serves real wheels, and a child's peak RSS counts its parent's.
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_simple_index(dist_dir: Path, index_dir: Path) -> None:
    """A PEP 503 'simple' index over the files in `dist_dir`."""
    projects: dict[str, list[Path]] = {}
    for file in sorted(dist_dir.iterdir()):
        if file.suffix == ".whl":
            project = file.name.split("-")[0]
        elif file.name.endswith(".tar.gz"):
            project = file.name[: -len(".tar.gz")].rsplit("-", 1)[0]
        else:
            continue
        projects.setdefault(canonicalize_name(project), []).append(file)
    index_dir.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (index_dir / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    for project, files in projects.items():
        page = index_dir / project
        page.mkdir(exist_ok=True)
        anchors = "".join(
            f'<a href="/files/{f.name}#sha256={_file_sha256(f)}">{f.name}</a>\n' for f in files
        )
        (page / "index.html").write_text(f"<html><body>\n{anchors}</body></html>\n")


def _index_root(dist_dir: Path, work_dir: Path) -> Path:
    """A directory that, served as it is, is a simple index of `dist_dir` under ``/simple``."""
    root = work_dir / "index-root"
    write_simple_index(dist_dir, root / "simple")
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    for file in dist_dir.iterdir():
        shutil.copyfile(file, files / file.name)
    return root


def refresh_index(dist_dir: Path, work_dir: Path) -> None:
    """After files were added to `dist_dir`: the index `serve_index` serves from `work_dir` lists
    them too (an upload to a live index)."""
    _index_root(dist_dir, work_dir)


@contextmanager
def serve_index_in_a_process(dist_dir: Path, work_dir: Path) -> Iterator[str]:
    """`serve_index` from a child process (``python -m http.server``), stopped by its PID: a
    test process with no thread of its own may fork (see `layerkit.targetpool.fork_is_safe`)."""
    root = _index_root(dist_dir, work_dir)
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
         "--directory", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        # "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        port = int(server.stdout.readline().split(" port ")[1].split()[0])
        yield f"http://127.0.0.1:{port}/simple"
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.communicate(timeout=10)  # waits, and closes its pipe


@contextmanager
def serve_index(
    dist_dir: Path,
    work_dir: Path,
    headers: Mapping[str, str] | None = None,
    seen: list[str] | None = None,
    basic_auth: str | None = None,
) -> Iterator[str]:
    """Serve `dist_dir` as a simple index on 127.0.0.1, sending `headers` with every response
    (and appending each request's path to `seen`); yield the index URL (…/simple). bench/run.py
    serves PyPI's cache headers with it. With `basic_auth` ("user:password") it answers only
    requests that carry those credentials, and the URL holds them, as users write it."""
    root = _index_root(dist_dir, work_dir)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            expected = "Basic " + base64.b64encode((basic_auth or "").encode()).decode()
            if basic_auth is not None and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="private"')
                self.end_headers()
                return
            super().do_GET()

        def end_headers(self) -> None:
            if seen is not None:
                seen.append(self.path)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_handler(Handler) as origin:
        credentials = f"{basic_auth}@" if basic_auth is not None else ""
        yield f"http://{credentials}{origin.removeprefix('http://')}/simple"


@contextmanager
def serve_handler(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 in a thread; yield ``http://127.0.0.1:PORT``; stop it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
