from __future__ import annotations

import pytest

from layerkit.budget import UNOWNED, check_budget, size_report
from layerkit.contents import FileEntry, InstalledDistribution
from layerkit.errors import BudgetExceededError, ExitCode

ENTRIES = (
    FileEntry("big/core.so", 600),
    FileEntry("big-1.0.dist-info/RECORD", 100),
    FileEntry("small/__init__.py", 250),
    FileEntry("stray.txt", 50),
)
DISTS = (
    InstalledDistribution(
        "big", "1.0", "big-1.0.dist-info", ("big/core.so", "big-1.0.dist-info/RECORD")
    ),
    InstalledDistribution("small", "2.0", "small-2.0.dist-info", ("small/__init__.py",)),
)


def test_report_breaks_down_by_distribution_and_directory() -> None:
    report = size_report(ENTRIES, DISTS, budget_bytes=1000, limit_bytes=1000)
    assert report.total_bytes == 1000
    assert report.file_count == 4
    assert [(d.name, d.bytes, d.files) for d in report.distributions] == [
        ("big", 700, 2),
        ("small", 250, 1),
        (UNOWNED, 50, 1),
    ]
    assert report.top_level[0].path == "big" and report.top_level[0].bytes == 600
    assert report.largest_files[0].path == "big/core.so"


def test_exactly_at_the_budget_passes() -> None:
    report = size_report(ENTRIES, DISTS, budget_bytes=1000)
    assert report.headroom_bytes == 0
    check_budget(report, label="layer x")


def test_one_byte_over_fails_naming_the_biggest() -> None:
    report = size_report(ENTRIES, DISTS, budget_bytes=999)
    with pytest.raises(BudgetExceededError) as raised:
        check_budget(report, label="layer x")
    assert raised.value.exit_code == int(ExitCode.BUDGET) == 3
    assert "1 over the budget of 999" in raised.value.message
    assert raised.value.message.index("big") < raised.value.message.index("small")
    assert "--exclude" in (raised.value.hint or "")


def test_the_hint_never_suggests_splitting_the_layer() -> None:
    """Lambda's 250 MB counts the function and all its layers together: a split never helps."""
    report = size_report(ENTRIES, DISTS, budget_bytes=999)
    with pytest.raises(BudgetExceededError) as raised:
        check_budget(report, label="layer x")
    hint = raised.value.hint or ""
    assert "split the layer" not in hint
    assert "does not help" in hint and "all its layers together" in hint
    assert "container image" in hint
