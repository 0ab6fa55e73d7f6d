"""The size report as a self-contained HTML page (rendered in headless Chromium) and as a
terminal bar chart."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from layerkit.budget import UNOWNED, DistributionSize, SizeReport, size_report
from layerkit.charts import BUDGET_MARK, LIMIT_MARK, bar_cells, render_size_chart, total_bar
from layerkit.contents import FileEntry, InstalledDistribution
from layerkit.htmlreport import files_by_distribution, render_html, share_text

MIB = 1024 * 1024
LIMIT = 262_144_000
NASTY = '</script><script>throw new Error("x")</script><b onmouseover="1">'


def _report(
    sizes: dict[str, int], *, budget: int = LIMIT, limit: int = LIMIT, files: int = 10
) -> SizeReport:
    dists = tuple(
        sorted(
            (DistributionSize(name, "1.0", files, size) for name, size in sizes.items()),
            key=lambda d: (-d.bytes, d.name),
        )
    )
    return SizeReport(
        total_bytes=sum(sizes.values()),
        file_count=files * len(sizes),
        budget_bytes=budget,
        limit_bytes=limit,
        distributions=dists,
        top_level=(),
        largest_files=(),
    )


def _files(report: SizeReport, per_dist: int = 5) -> dict[str, list[tuple[str, int]]]:
    return {
        d.name: [(f"{d.name}/file{i}.py", d.bytes // per_dist) for i in range(per_dist)]
        for d in report.distributions
    }


DATA = _report({"pyarrow": 163 * MIB, "numpy": 50 * MIB, "pandas": 41 * MIB, "tzdata": MIB // 2})
SMALL = _report({"requests": 2 * MIB, "idna": MIB // 4}, budget=100 * MIB)


class _Collector(HTMLParser):
    """Tags with their attributes, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    return collector


# --- the page itself ------------------------------------------------------------------------


def test_page_shows_totals_budget_and_every_distribution() -> None:
    page = render_html(DATA, title="data layer", files_by_distribution=_files(DATA))
    parsed = _parse(page)
    text = " ".join(parsed.text)
    assert "<title>data layer</title>" in page
    assert f"{DATA.total_bytes:,} bytes unzipped" in text and f"{LIMIT:,} bytes" in text
    assert "over budget by 4.5 MiB" in text
    names = [a["data-name"] for t, a in parsed.tags if t == "details"]
    assert names == ["pyarrow", "numpy", "pandas", "tzdata"]  # largest first
    assert "numpy/file0.py" in text
    # The budget line is drawn, and the part over it.
    assert sum(1 for t, a in parsed.tags if t == "line" and a.get("class") == "limit") == 1
    assert any(t == "rect" and a.get("class") == "overflow" for t, a in parsed.tags)


def test_page_within_budget_draws_budget_and_limit_and_no_overflow() -> None:
    page = render_html(SMALL, title="small", files_by_distribution=_files(SMALL))
    parsed = _parse(page)
    assert "within budget: 97.8 MiB left" in page
    lines = [a for t, a in parsed.tags if t == "line" and a.get("class") == "limit"]
    assert len(lines) == 2  # the budget, and Lambda's limit beside it
    assert not any(t == "rect" and a.get("class") == "overflow" for t, a in parsed.tags)


def test_bars_are_shares_of_the_budget() -> None:
    report = _report({"a": 50 * MIB, "b": 25 * MIB}, budget=100 * MIB)
    page = render_html(report, title="t", files_by_distribution={})
    widths = re.findall(r'class="fill" style="width:([\d.]+)%;background', page)
    assert [float(w) for w in widths] == [50.0, 25.0]


def test_page_is_self_contained() -> None:
    page = render_html(DATA, title="t", files_by_distribution=_files(DATA))
    parsed = _parse(page)
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith("data:"), (tag, name, value)
    assert not re.search(r"(https?:)?//[a-z]", page.replace("data:,", ""))
    csp = next(
        a["content"] for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None and "default-src 'none'" in csp


def test_names_and_paths_are_escaped() -> None:
    report = _report({NASTY: MIB})
    page = render_html(report, title=NASTY, files_by_distribution={NASTY: [(NASTY, MIB)]})
    assert NASTY not in page
    assert page.count("<script>") == 2  # only the page's own scripts
    assert "&lt;/script&gt;" in page


def test_long_file_lists_are_cut_and_summed() -> None:
    report = _report({"big": 1000})
    files = {"big": [(f"big/f{i:03}.py", 10 - i % 3) for i in range(120)]}
    page = render_html(report, title="t", files_by_distribution=files, max_files=100)
    assert page.count('<tr data-path="') == 100
    rest = sorted((10 - i % 3 for i in range(120)), reverse=True)[100:]
    assert f'… 20 more files</td><td></td><td class="num">{sum(rest)} B' in page
    # Largest files first.
    first = re.search(r'<tr data-path="([^"]+)"', page)
    assert first is not None and first.group(1) == "big/f000.py"


def test_files_by_distribution_matches_the_size_report() -> None:
    entries = (
        FileEntry("a/__init__.py", 10),
        FileEntry("a/big.so", 1000),
        FileEntry("a-1.0.dist-info/RECORD", 5),
        FileEntry("stray.txt", 7),
    )
    dists = (
        InstalledDistribution(
            "a", "1.0", "a-1.0.dist-info",
            ("a/__init__.py", "a/big.so", "a-1.0.dist-info/RECORD", "a/gone.py"),
        ),
    )  # fmt: skip
    listing = files_by_distribution(entries, dists)
    assert listing == {
        "a": [("a/__init__.py", 10), ("a/big.so", 1000), ("a-1.0.dist-info/RECORD", 5)],
        UNOWNED: [("stray.txt", 7)],
    }
    report = size_report(entries, dists)
    assert {d.name: d.bytes for d in report.distributions} == {
        name: sum(size for _, size in files) for name, files in listing.items()
    }


def test_share_text() -> None:
    assert share_text(64, 100) == "64%"
    assert share_text(1, 1000) == "<1%"
    assert share_text(0, 1000) == "0%"
    assert share_text(5, 0) == "0%"


# --- in a real browser ----------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserRun:
    dom: str
    console: list[str]
    screenshot: Path


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed (apt-get install -y chromium; .ci/run installs it)"
    return path


def _open_in_chromium(page: Path, work: Path) -> BrowserRun:
    """Load `page` from file:// in headless Chromium: its DOM after scripts ran, the console
    messages it logged (errors, CSP violations, anything) and a 1280x900 screenshot."""
    screenshot = work / f"{page.stem}.png"
    proc = subprocess.run(
        [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-quic", f"--user-data-dir={work / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--dump-dom", f"--screenshot={screenshot}",
            "--window-size=1280,900", page.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return BrowserRun(proc.stdout, console, screenshot)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _errored(dom: str) -> bool:
    """The page's error handler marks the root element when any script error happened."""
    return re.search(r"<html[^>]*data-report-error=", dom) is not None


def _ran_cleanly(run: BrowserRun) -> bool:
    return (
        re.search(r'<body[^>]*data-report-status="ok"', run.dom) is not None
        and not _errored(run.dom)
        and run.console == []
    )


@pytest.mark.parametrize(("report", "name"), [(DATA, "over"), (SMALL, "within")])
def test_page_renders_in_headless_chromium_without_console_errors(
    report: SizeReport, name: str, tmp_path: Path
) -> None:
    page = tmp_path / f"{name}.html"
    page.write_text(render_html(report, title=NASTY, files_by_distribution=_files(report)))
    run = _open_in_chromium(page, tmp_path)
    assert run.console == []
    assert not _errored(run.dom)
    assert re.search(r'<body[^>]*data-report-status="ok"', run.dom)
    assert run.dom.count('<details class="dist"') == len(report.distributions)
    assert _png_size(run.screenshot) == (1280, 900)
    assert run.screenshot.stat().st_size > 10_000  # drawn, not a blank page


def test_the_browser_check_catches_script_errors_and_blocked_requests(tmp_path: Path) -> None:
    page = render_html(SMALL, title="t", files_by_distribution=_files(SMALL))
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace('getElementById("filter")', 'getElementById("nope")'))
    run = _open_in_chromium(broken, tmp_path)
    assert not _ran_cleanly(run)
    assert _errored(run.dom) and 'data-report-status="ok"' not in run.dom

    external = tmp_path / "external.html"
    external.write_text(page.replace("<main>", '<main><img src="https://example.invalid/x.png">'))
    run = _open_in_chromium(external, tmp_path)
    assert not _ran_cleanly(run)
    assert any("Content Security Policy" in line for line in run.console)


# --- the terminal chart ---------------------------------------------------------------------


def _chart(report: SizeReport, **kwargs: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None, highlight=False)
    render_size_chart(console, report, **kwargs)
    return buffer.getvalue()


def test_bar_cells_in_eighths() -> None:
    assert bar_cells(50, 100, 10) == "█████"
    assert bar_cells(55, 100, 10) == "█████▌"
    assert bar_cells(1, 10_000, 10) == "▏"  # tiny but present
    assert bar_cells(0, 100, 10) == ""
    assert bar_cells(500, 100, 10) == "█" * 10  # never wider than the chart


def test_total_bar_marks_the_budget_and_reddens_the_overflow() -> None:
    within = total_bar(_report({"a": 25}, budget=50, limit=100), width=20)
    assert within.plain == "█████" + "·" * 5 + BUDGET_MARK + "·" * 8 + LIMIT_MARK
    over = total_bar(_report({"a": 120}, budget=100, limit=100), width=12)
    assert over.plain == "█" * 10 + BUDGET_MARK + "█"
    red = [span for span in over.spans if span.style == "red"]
    assert [(s.start, s.end) for s in red] == [(11, 12)]
    # Barely over: one red cell still shows it.
    barely = total_bar(_report({"a": 1001}, budget=1000, limit=1000), width=40)
    assert barely.plain.endswith(BUDGET_MARK + "█")


def test_chart_lists_distributions_as_shares_of_the_budget() -> None:
    out = _chart(_report({"big": 50 * MIB, "small": 1024}, budget=100 * MIB))
    lines = out.splitlines()
    assert lines[0] == "50.0 MiB of 100.0 MiB budget (50%), 50.0 MiB left; 20 files"
    assert "┃ budget  ╏ Lambda limit 250.0 MiB" in lines[1]
    assert re.match(r"big 1\.0 +█{20} +50\.0 MiB +50%$", lines[2])
    assert re.match(r"small 1\.0 +▏ +1\.0 KiB +<1%$", lines[3])


def test_chart_over_budget_says_by_how_much_and_folds_the_tail() -> None:
    sizes = {f"d{i:02}": (20 - i) * MIB for i in range(15)}
    out = _chart(_report(sizes, budget=100 * MIB), rows=12)
    assert "195.0 MiB of 100.0 MiB budget (195%), 95.0 MiB over budget" in out.splitlines()[0]
    assert "3 more" in out and "d11 1.0" in out and "d12 1.0" not in out


def test_an_empty_layer_renders_in_both_forms() -> None:
    empty = _report({}, budget=100 * MIB)
    page = render_html(empty, title="empty", files_by_distribution={})
    assert "within budget: 100.0 MiB left" in page and '<details class="dist"' not in page
    lines = _chart(empty).splitlines()
    assert lines[0] == "0 B of 100.0 MiB budget (0%), 100.0 MiB left; 0 files"
    assert "█" not in lines[1]
