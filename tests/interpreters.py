"""Finding real CPython interpreters of a given version on this machine (for import tests)."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys


def find_python(version: str) -> str | None:
    """A working `python{version}` executable: the running one, PATH, or pyenv's versions."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}"))
    candidates += sorted(glob.glob(f"/usr/bin/python{version}"))
    for candidate in candidates:
        if candidate and _works(candidate, version):
            return candidate
    return None


def _works(python: str, version: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == version
