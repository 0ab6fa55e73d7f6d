"""Size budgets: pure functions over the sizes of a layer's files."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerkit.errors import BudgetExceededError
from layerkit.limits import LAMBDA_UNZIPPED_LIMIT
from layerkit.report import human_bytes

if TYPE_CHECKING:
    from layerkit.contents import FileEntry, InstalledDistribution

UNOWNED = "(not in any RECORD)"
TOP_N = 10


@dataclass(frozen=True)
class DistributionSize:
    name: str
    version: str
    files: int
    bytes: int


@dataclass(frozen=True)
class PathSize:
    path: str
    bytes: int


@dataclass(frozen=True)
class SizeReport:
    """The unzipped size of a layer against its budget, with the biggest contributors."""

    total_bytes: int
    file_count: int
    budget_bytes: int
    limit_bytes: int
    distributions: tuple[DistributionSize, ...]
    top_level: tuple[PathSize, ...]
    largest_files: tuple[PathSize, ...]

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.total_bytes

    @property
    def over_budget(self) -> bool:
        return self.total_bytes > self.budget_bytes


def size_report(
    entries: Sequence[FileEntry],
    distributions: Iterable[InstalledDistribution],
    *,
    budget_bytes: int = LAMBDA_UNZIPPED_LIMIT,
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT,
) -> SizeReport:
    """Total, per-distribution, per-top-level-directory and largest-file sizes."""
    size_of = {e.path: e.size for e in entries}
    bytecode = _bytecode_by_source(size_of)
    per_dist: list[DistributionSize] = []
    owned: set[str] = set()
    for dist in distributions:
        files = [f for f in dist.files if f in size_of]
        # .pyc compiled after the install are not in RECORD: they weigh on their module's owner
        files += [pyc for f in dist.files for pyc in bytecode.get(f, ()) if pyc not in dist.files]
        owned.update(files)
        per_dist.append(
            DistributionSize(dist.name, dist.version, len(files), sum(size_of[f] for f in files))
        )
    unowned = [p for p in size_of if p not in owned]
    if unowned:
        per_dist.append(
            DistributionSize(UNOWNED, "", len(unowned), sum(size_of[p] for p in unowned))
        )
    per_dist.sort(key=lambda d: (-d.bytes, d.name))

    by_top: dict[str, int] = defaultdict(int)
    for entry in entries:
        by_top[entry.path.split("/", 1)[0]] += entry.size
    top_level = sorted(
        (PathSize(p, b) for p, b in by_top.items()), key=lambda s: (-s.bytes, s.path)
    )
    largest = sorted((PathSize(e.path, e.size) for e in entries), key=lambda s: (-s.bytes, s.path))
    return SizeReport(
        total_bytes=sum(size_of.values()),
        file_count=len(entries),
        budget_bytes=budget_bytes,
        limit_bytes=limit_bytes,
        distributions=tuple(per_dist),
        top_level=tuple(top_level[:TOP_N]),
        largest_files=tuple(largest[:TOP_N]),
    )


def _bytecode_by_source(paths: Iterable[str]) -> dict[str, list[str]]:
    """``a/b.py`` -> its ``a/__pycache__/b.<tag>.pyc`` files among `paths`."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        directory, _, name = path.rpartition("/")
        if name.endswith(".pyc") and directory.rpartition("/")[2] == "__pycache__":
            parent = directory.rpartition("/")[0]
            source = f"{name.rsplit('.', 2)[0]}.py"  # mod.cpython-312.pyc -> mod.py
            found[f"{parent}/{source}" if parent else source].append(path)
    return found


def size_report_from_json(document: Mapping[str, Any]) -> SizeReport:
    """A `SizeReport` from its JSON form (`report.to_jsonable`), as the build cache keeps it."""
    return SizeReport(
        total_bytes=int(document["total_bytes"]),
        file_count=int(document["file_count"]),
        budget_bytes=int(document["budget_bytes"]),
        limit_bytes=int(document["limit_bytes"]),
        distributions=tuple(
            DistributionSize(str(d["name"]), str(d["version"]), int(d["files"]), int(d["bytes"]))
            for d in document["distributions"]
        ),
        top_level=tuple(PathSize(str(p["path"]), int(p["bytes"])) for p in document["top_level"]),
        largest_files=tuple(
            PathSize(str(p["path"]), int(p["bytes"])) for p in document["largest_files"]
        ),
    )


def check_budget(report: SizeReport, *, label: str) -> None:
    """Raise `BudgetExceededError` naming the biggest distributions when over budget."""
    if not report.over_budget:
        return
    biggest = ", ".join(f"{d.name} {human_bytes(d.bytes)}" for d in report.distributions[:5])
    raise BudgetExceededError(
        f"{label} is {report.total_bytes:,} bytes unzipped, {-report.headroom_bytes:,} over the "
        f"budget of {report.budget_bytes:,}; largest: {biggest}",
        hint="exclude what the runtime already has (--exclude boto3 --exclude botocore), "
        "--strip shared objects, drop unneeded dependencies or pick lighter ones (e.g. "
        "opencv-python-headless), or deploy the function as a container image (10 GB); "
        "splitting into several layers does not help: Lambda's 250 MB counts the function and "
        "all its layers together",
    )
