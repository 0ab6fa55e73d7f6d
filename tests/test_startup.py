"""Commands that do not talk to AWS never import boto3, so they start fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import isolated_env


def _imported_modules(code: str, tmp_path: Path) -> set[str]:
    """Run `code` in a fresh interpreter; return the modules it imported (written to a file, as
    the commands print their own output)."""
    listing = tmp_path / "modules.txt"
    script = f"import sys\n{code}\nopen({str(listing)!r}, 'w').write('\\n'.join(sys.modules))"
    subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                   env=isolated_env(), check=True)  # fmt: skip
    return set(listing.read_text().split())


def test_help_and_build_do_not_import_boto3(tmp_path: Path) -> None:
    modules = _imported_modules(
        "from layerkit.cli import run\n"
        "for argv in (['--help'], ['build', '--help'], ['build', '/nonexistent']):\n"
        "    try:\n        run(argv)\n    except SystemExit:\n        pass",
        tmp_path,
    )
    assert "layerkit.cli" in modules
    assert "layerkit.workflow" in modules  # the build really ran (and failed on its input)
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore")}
