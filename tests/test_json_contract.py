"""The machine-output contract: every `--json` document matches its schema in docs/json/.

One scenario drives every command that prints JSON (against moto and a local index); each
document must carry the envelope (`schema`, `schema_version`) and validate against the committed
JSON Schema of its kind. Every kind the code can emit has a schema, and every schema is exercised.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from layerkit.report import SCHEMA_VERSION
from tests.aws_support import lk, make_bucket
from tests.build_fixtures import make_project
from tests.lock_fixtures import pylock_of
from tests.release_support import LambdaWorld
from tests.support import REPO_ROOT

SCHEMAS = REPO_ROOT / "docs" / "json"
REGION = "us-east-1"


def _kinds_in_code() -> set[str]:
    """Every kind passed to Output.emit in the commands (literal first argument)."""
    kinds: set[str] = set()
    for source in (REPO_ROOT / "layerkit" / "commands").glob("*.py"):
        kinds.update(re.findall(r'emit\(\s*"([a-z-]+)"', source.read_text()))
    return kinds


def _run(
    env: dict[str, str], documents: dict[str, list[dict[str, Any]]], *args: str
) -> dict[str, Any]:
    result = lk(env, *args, "--json")
    assert result.returncode == 0, (args, result.stderr)
    document: dict[str, Any] = json.loads(result.stdout)
    documents[document["schema"].removeprefix("layerkit/")].append(document)
    return document


@pytest.fixture
def documents(
    world: LambdaWorld, aws_env: dict[str, str], index_url: str, dists: Path, tmp_path: Path
) -> dict[str, list[dict[str, Any]]]:
    env = {**aws_env, "AWS_DEFAULT_REGION": REGION, "LAYERKIT_CACHE_DIR": str(tmp_path / "cache")}
    docs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    project = make_project(tmp_path, "purepkg\n")
    out = tmp_path / "dist"
    built = _run(env, docs, "build", str(project), "--index-url", index_url, "--python", "3.12",
                 "-o", str(out), "--sbom")  # fmt: skip
    zip_path = built["builds"][0]["zip"]
    # with bytecode: the host's Python compiles it for its own version
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    _run(env, docs, "build", str(project), "--index-url", index_url, "--python", host,
         "-o", str(tmp_path / "dist-pyc"), "--interpreter", sys.executable)  # fmt: skip
    locked = tmp_path / "locked"  # from a lock file: the build names it and its digest
    locked.mkdir()
    wheels = [dists / "purepkg-1.0-py3-none-any.whl", dists / "helperpkg-1.2-py3-none-any.whl"]
    (locked / "pylock.toml").write_text(pylock_of(wheels))
    from_lock = _run(env, docs, "build", str(locked), "--index-url", index_url, "--python",
                     "3.12", "-o", str(tmp_path / "dist-locked"))  # fmt: skip
    assert from_lock["builds"][0]["lock"]["file"] == "pylock.toml"
    _run(env, docs, "inspect", zip_path)
    _run(env, docs, "test", zip_path)  # passed, or skipped where python3.12 cannot run

    make_bucket(env, "contract-bucket", region=REGION)
    world.function_with_versions("my-fn", 2)
    published = _run(env, docs, "publish", zip_path, "--bucket", "contract-bucket",
                     "--layer-name", "deps", "--region", REGION)  # fmt: skip
    arn = published["results"][0]["layer_arn"] if "results" in published else None
    arn = arn or json.dumps(published).split('"layer_arn": "')[1].split('"')[0]
    _run(env, docs, "attach", "my-fn", "--layer", arn, "--region", REGION)
    _run(env, docs, "detach", "my-fn", "--layer", "deps", "--region", REGION)
    _run(env, docs, "attach", "my-fn", "--layer", arn, "--region", REGION)
    _run(env, docs, "layers", "list", "--region", REGION)
    _run(env, docs, "layers", "versions", "deps", "--region", REGION)
    _run(env, docs, "layers", "grant", "deps", "1", "--account", "111122223333", "--region", REGION)
    _run(
        env, docs, "layers", "revoke", "deps", "1", "--account", "111122223333", "--region", REGION
    )
    _run(env, docs, "layers", "prune", "deps", "--keep", "1", "--region", REGION)
    (project / "layerkit.toml").write_text(
        'requirements = "requirements.txt"\npython = "3.12"\n'
        f'index-url = "{index_url}"\n[publish]\nbucket = "contract-bucket"\n'
        f'layer-name = "other"\nregions = ["{REGION}"]\n'
    )
    _run(env, docs, "deploy", str(project))
    other_arn = lk(env, "layers", "versions", "other", "--region", REGION, "--json").stdout
    other_version = json.loads(other_arn)["versions"][0]["version"]
    _run(env, docs, "layers", "delete", "other", str(other_version), "--region", REGION)

    _run(env, docs, "version", "publish", "my-fn", "--description", "contract")
    _run(env, docs, "version", "list", "my-fn")
    _run(env, docs, "version", "prune", "my-fn", "--keep", "5")
    _run(env, docs, "alias", "create", "my-fn", "prod", "--version", "1")
    _run(env, docs, "alias", "update", "my-fn", "prod", "--version", "1", "--weight", "2=0.1")
    _run(env, docs, "alias", "get", "my-fn", "prod")
    _run(env, docs, "alias", "list", "my-fn")
    _run(env, docs, "alias", "update", "my-fn", "prod", "--no-routing")
    _run(env, docs, "alias", "shift", "my-fn", "prod", "--to", "2", "--steps", "50,100",
         "--interval", "0s")  # fmt: skip
    _run(env, docs, "alias", "rollback", "my-fn", "prod")
    _run(env, docs, "alias", "delete", "my-fn", "prod")

    _run(env, docs, "init", str(tmp_path / "new"), "--template", "minimal")
    _run(env, docs, "init", "--list")
    _run(env, docs, "targets", str(tmp_path / "new"))
    _run(env, docs, "cache", "info")
    _run(env, docs, "cache", "prune", "--dry-run", "--max-size", "1KB")
    return docs


def test_every_document_matches_its_schema(documents: dict[str, list[dict[str, Any]]]) -> None:
    assert set(documents) == _kinds_in_code()
    for kind, docs in sorted(documents.items()):
        schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
        for document in docs:
            assert document["schema_version"] == SCHEMA_VERSION
            jsonschema.validate(document, schema)


def test_schemas_and_kinds_correspond() -> None:
    files = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
    assert files == _kinds_in_code()
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        kind = path.name.removesuffix(".schema.json")
        assert schema["properties"]["schema"] == {"const": f"layerkit/{kind}"}
        assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
