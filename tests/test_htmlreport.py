"""The size report as a self-contained HTML page (rendered in headless Chromium) and as a
terminal bar chart."""

from __future__ import annotations

import dataclasses
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
from layerkit.charts import (
    BUDGET_MARK,
    CHART_ROWS,
    LIMIT_MARK,
    bar_cells,
    render_size_chart,
    total_bar,
)
from layerkit.contents import FileEntry, InstalledDistribution
from layerkit.htmlreport import TREEMAP_HEIGHT, TREEMAP_WIDTH, files_by_distribution, render_html
from layerkit.layerreport import LayerReport, Problem, Saving, budget_state, share_text

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


PROBLEM = Problem(
    path="fast/_c.cpython-312-aarch64-linux-gnu.so", package="fast", rule="machine",
    needs="AArch64", offers="x86-64 (python3.12 on x86_64)", fix="install the x86_64 wheel",
    summary="fast/_c.cpython-312-aarch64-linux-gnu.so (fast) is built for AArch64, but the "
    "target runs x86-64 (python3.12 on x86_64)", waived=False,
)  # fmt: skip
SAVING = Saving("tests", "tests/test directories inside packages", 3, 2 * MIB)


def _layer(
    size: SizeReport,
    *,
    name: str = "deps.zip",
    problems: tuple[Problem, ...] = (),
    savings: tuple[Saving, ...] = (),
    notes: tuple[str, ...] = (),
) -> LayerReport:
    return LayerReport(
        name=name, source=f"dist/{name}", kind="zip", runtime="python3.12",
        architecture="x86_64", python_origin="manifest", architecture_origin="given",
        packages_dir="python/lib/python3.12/site-packages", size=size, zipped_bytes=MIB,
        problems=problems, savings=savings, notes=notes,
    )  # fmt: skip


def _page(size: SizeReport, **kwargs: object) -> str:
    return render_html(_layer(size, **kwargs), files_by_distribution=_files(size))  # type: ignore[arg-type]


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


def _sections(page: str) -> list[str]:
    return re.findall(r'data-q="([a-z]+)"', page)


def test_the_page_answers_fit_run_smaller_before_the_packages() -> None:
    page = _page(DATA, problems=(PROBLEM,), savings=(SAVING,), notes=("a note",))
    assert _sections(page) == ["verdict", "fit", "run", "smaller", "packages", "treemap"]
    parsed = _parse(page)
    text = " ".join(parsed.text)
    names = [a["data-name"] for t, a in parsed.tags if t == "tbody" and "data-name" in a]
    assert names == ["pyarrow", "numpy", "pandas", "tzdata"]  # largest first
    headers = [t for t, _ in parsed.tags if t == "th"]
    assert len(headers) == 5 + 5 + 5  # problems, savings and packages tables all have headers
    # every problem with its file, package, need, offer and fix; savings per rule; notes
    for value in (PROBLEM.path, PROBLEM.needs, PROBLEM.offers, PROBLEM.fix, "a note", "tests"):
        assert value in text
    assert "2.0 MiB" in text and share_text(2 * MIB, LIMIT) in text
    # files on demand: every package's list is collapsed
    assert "numpy/file0.py" in text
    assert not any(t == "details" and "open" in a for t, a in parsed.tags)


@pytest.mark.parametrize(
    ("size", "problems", "state", "verdict"),
    [
        (SMALL, (), "fits", "fits: 2.2 MiB of the 100.0 MiB budget (2%), 97.8 MiB left"),
        (_report({"a": 93 * MIB}, budget=100 * MIB), (), "tight", "fits, tightly:"),
        (DATA, (), "over", "over budget: 254.5 MiB of the 250.0 MiB budget (102%), 4.5 MiB over"),
        (SMALL, (PROBLEM,), "failing", "fails: 1 problem; 2.2 MiB of the 100.0 MiB budget"),
    ],
)
def test_colour_and_verdict_follow_the_state(
    size: SizeReport, problems: tuple[Problem, ...], state: str, verdict: str
) -> None:
    page = _page(size, problems=problems)
    assert f'<body class="{state}"' in page
    badge = re.search(r'<div class="verdict ([a-z]+)">([^<]*)</div>', page)
    assert badge is not None and badge.group(1) == state and badge.group(2).startswith(verdict)
    if problems:  # a failing layer never looks like it passed
        assert "within budget" not in page and 'class="verdict fits"' not in page


def test_waived_problems_are_shown_but_do_not_fail() -> None:
    waived = dataclasses.replace(PROBLEM, waived=True)
    page = _page(SMALL, problems=(waived,))
    assert '<body class="fits"' in page and '<tr class="waived">' in page
    assert "(waived)" in page and "1 finding below does not fail it" in page
    failing = _page(SMALL, problems=(waived, PROBLEM))
    rows = re.findall(r'<tr class="(problem|waived)">', failing)
    assert rows == ["problem", "waived"]  # what fails comes first


def test_the_fit_bar_is_the_budget_or_marks_it_when_over() -> None:
    within = _page(_report({"a": 40 * MIB}, budget=100 * MIB))
    assert '<div class="used" style="width:40.000%">' in within
    assert '<div class="budget-mark"' not in within
    over = _page(_report({"a": 125 * MIB}, budget=100 * MIB))
    assert '<div class="used" style="width:100.000%">' in over
    assert '<div class="budget-mark" style="left:80.000%"' in over


def test_93_percent_of_the_budget_is_amber_not_green() -> None:
    assert budget_state(_report({"a": 93}, budget=100)) == "tight"
    assert budget_state(_report({"a": 89}, budget=100)) == "fits"
    assert budget_state(_report({"a": 101}, budget=100)) == "over"
    assert budget_state(_report({"a": 1}, budget=100), failing=True) == "failing"


def test_bars_and_labels_are_both_shares_of_the_budget() -> None:
    report = _report({"a": 50 * MIB, "b": 25 * MIB, "c": 1024}, budget=100 * MIB)
    page = _page(report)
    widths = re.findall(r'class="fill" style="width:([\d.]+)%;background', page)
    assert [float(w) for w in widths] == [50.0, 25.0, 0.001]
    labels = re.findall(r'</div></div></td><td class="num">([^<]+)</td></tr>', page)
    assert labels == ["50%", "25%", "&lt;1%"]


def test_no_raw_byte_counts_and_one_budget_figure() -> None:
    page = _page(DATA)
    text = " ".join(_parse(page).text)
    assert not re.search(r"\d{1,3}(,\d{3})+ bytes", text)
    assert "bytes" not in text
    # Lambda's limit is said once, in words, not as a second tile beside an equal budget
    assert text.count("Lambda's limit") == 1 and "Lambda limit" not in text


def test_the_page_is_the_same_bytes_for_the_same_report() -> None:
    assert _page(DATA, problems=(PROBLEM,)) == _page(DATA, problems=(PROBLEM,))


def test_treemap_areas_are_the_packages_sizes() -> None:
    page = _page(DATA)
    rects = [
        (float(a["x"] or 0), float(a["y"] or 0), float(a["width"] or 0), float(a["height"] or 0))
        for t, a in _parse(page).tags
        if t == "rect"
    ]
    assert len(rects) == len(DATA.distributions)
    area = TREEMAP_WIDTH * TREEMAP_HEIGHT
    for dist, (x, y, w, h) in zip(DATA.distributions, rects, strict=True):
        assert x >= -0.1 and y >= -0.1 and x + w <= TREEMAP_WIDTH + 0.2
        assert y + h <= TREEMAP_HEIGHT + 0.2
        assert abs(w * h - area * dist.bytes / DATA.total_bytes) < area * 0.002
    assert "<script" not in page.split('<svg class="treemap"')[1].split("</svg>")[0]


def test_page_is_self_contained() -> None:
    page = _page(DATA, problems=(PROBLEM,), savings=(SAVING,))
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
    nasty = Problem(NASTY, NASTY, "machine", NASTY, NASTY, NASTY, NASTY, waived=False)
    layer = _layer(report, name=NASTY, problems=(nasty,), savings=(SAVING,), notes=(NASTY,))
    page = render_html(layer, files_by_distribution={NASTY: [(NASTY, MIB)]})
    assert NASTY not in page
    assert page.count("<script>") == 2  # only the page's own scripts
    assert "&lt;/script&gt;" in page


def test_long_file_lists_are_cut_and_summed() -> None:
    report = _report({"big": 1000})
    files = {"big": [(f"big/f{i:03}.py", 10 - i % 3) for i in range(120)]}
    page = render_html(_layer(report), files_by_distribution=files, max_files=100)
    assert page.count('<tr data-path="') == 100
    rest = sorted((10 - i % 3 for i in range(120)), reverse=True)[100:]
    assert f'… 20 more files</td><td class="num">{sum(rest)} B' in page
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


def _open_in_chromium(page: Path, work: Path, shots: Path | None = None) -> BrowserRun:
    """Load `page` from file:// in headless Chromium: its DOM after scripts ran, the console
    messages it logged (errors, CSP violations, anything) and a 1280x900 screenshot (in `shots`,
    else in `work`)."""
    screenshot = (shots or work) / f"{page.stem}.png"
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
    page.write_text(_page(report, name=NASTY))
    run = _open_in_chromium(page, tmp_path)
    assert run.console == []
    assert not _errored(run.dom)
    assert re.search(r'<body[^>]*data-report-status="ok"', run.dom)
    assert run.dom.count('<tbody class="dist"') == len(report.distributions)
    assert _png_size(run.screenshot) == (1280, 900)
    assert run.screenshot.stat().st_size > 10_000  # drawn, not a blank page


def test_the_browser_check_catches_script_errors_and_blocked_requests(tmp_path: Path) -> None:
    page = _page(SMALL)
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


def _chart(report: SizeReport, *, rows: int = CHART_ROWS) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None, highlight=False)
    render_size_chart(console, report, rows=rows)
    return buffer.getvalue()


def test_bar_cells_in_eighths() -> None:
    assert bar_cells(50, 100, 10) == "█████"
    assert bar_cells(55, 100, 10) == "█████▌"
    assert bar_cells(1, 10_000, 10) == "▏"  # tiny but present
    assert bar_cells(0, 100, 10) == ""
    assert bar_cells(500, 100, 10) == "█" * 10  # never wider than the chart


def test_total_bar_marks_the_budget_and_reddens_the_overflow() -> None:
    within = total_bar(_report({"a": 25}, budget=50, limit=100), width=20)
    # the scale is the budget: a limit far beyond it would shrink the layer to a sliver
    assert within.plain == "█" * 10 + "·" * 9 + BUDGET_MARK
    near = total_bar(_report({"a": 100}, budget=220, limit=250), width=25)
    assert near.plain == "█" * 10 + "·" * 12 + BUDGET_MARK + "·" + LIMIT_MARK
    over = total_bar(_report({"a": 120}, budget=100, limit=100), width=12)
    assert over.plain == "█" * 10 + BUDGET_MARK + "█"
    red = [span for span in over.spans if span.style == "red"]
    assert len(red) == 11  # over the budget: the whole bar is red, not green up to the mark
    assert {span.style for span in within.spans if span.end <= 5} == {"green"}
    tight = total_bar(_report({"a": 95}, budget=100, limit=100), width=20)
    assert {span.style for span in tight.spans if span.end <= 19} == {"yellow"}
    # Barely over: one red cell still shows it.
    barely = total_bar(_report({"a": 1001}, budget=1000, limit=1000), width=40)
    assert barely.plain.endswith(BUDGET_MARK + "█")


def test_chart_lists_distributions_as_shares_of_the_budget() -> None:
    out = _chart(_report({"big": 50 * MIB, "small": 1024}, budget=100 * MIB))
    lines = out.splitlines()
    assert lines[0] == "50.0 MiB of 100.0 MiB budget (50%), 50.0 MiB left; 20 files"
    assert lines[1].endswith("┃ budget 100.0 MiB") and "Lambda limit" not in out
    assert re.match(r"package +share of the budget +size +%$", lines[2])
    assert re.match(r"big 1\.0 +█{20} +50\.0 MiB +50%$", lines[3])
    assert re.match(r"small 1\.0 +▏ +1\.0 KiB +<1%$", lines[4])


def test_chart_over_budget_says_by_how_much_and_folds_the_tail() -> None:
    sizes = {f"d{i:02}": (20 - i) * MIB for i in range(15)}
    out = _chart(_report(sizes, budget=100 * MIB), rows=12)
    assert "195.0 MiB of 100.0 MiB budget (195%), 95.0 MiB over budget" in out.splitlines()[0]
    assert "3 more" in out and "d11 1.0" in out and "d12 1.0" not in out


def test_an_empty_layer_renders_in_both_forms() -> None:
    empty = _report({}, budget=100 * MIB)
    page = render_html(_layer(empty), files_by_distribution={})
    assert "fits: 0 B of the 100.0 MiB budget (0%), 100.0 MiB left" in page
    assert '<tbody class="dist"' not in page
    lines = _chart(empty).splitlines()
    assert lines[0] == "0 B of 100.0 MiB budget (0%), 100.0 MiB left; 0 files"
    assert "█" not in lines[1]
