"""One report, three renderings: the terminal, `--json` and the HTML page say the same thing about
a passing, an over-budget and a failing layer. The terminal is compared with golden snapshots at
80 and 120 columns; the page is opened in headless Chromium and its first screen checked.

Set LAYERKIT_UPDATE_GOLDEN=1 to rewrite tests/golden/ (then read the diff); set
LAYERKIT_ARTIFACTS=DIR to keep the screenshots (CI uploads them)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from collections.abc import Callable
from html import escape
from pathlib import Path

import pytest
from rich.console import Console

from layerkit.charts import render_layer_report
from layerkit.cli import run
from layerkit.inspection import inspect_layer
from layerkit.layerreport import LayerReport, layer_report, share_text
from tests.report_fixtures import LAYERS, LONG_NAME, Layer, passing_layer
from tests.test_htmlreport import _open_in_chromium, _ran_cleanly

GOLDEN = Path(__file__).parent / "golden"
FIRST_SCREEN = 900  # the screenshot's height, as a reviewer's window


def _report(layer: Layer) -> LayerReport:
    result = inspect_layer(layer.zip, python="3.12", arch="x86_64", budget_bytes=_budget(layer))
    report = layer_report(result, python_given=True, arch_given=True)
    return dataclasses.replace(report, source=f"dist/{layer.zip.name}")  # no tmp path in goldens


def _budget(layer: Layer) -> int:
    from layerkit.config import parse_size

    return parse_size(layer.args[layer.args.index("--budget") + 1])


def _terminal(report: LayerReport, width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False, emoji=False)
    render_layer_report(console, report)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("make", LAYERS, ids=lambda make: make.__name__)
def test_terminal_matches_its_golden_snapshot(
    make: Callable[[Path], Layer], width: int, tmp_path: Path
) -> None:
    layer = make(tmp_path)
    text = _terminal(_report(layer), width)
    golden = GOLDEN / f"inspect-{layer.name}-{width}.txt"
    if os.environ.get("LAYERKIT_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width  # no row wider than the terminal
    assert "bytes" not in text and not re.search(r"\d,\d{3}", text)  # bytes only in --json
    # never a broken word: every path and name of the layer appears whole, on one line
    for word in ("python/lib/python3.12/site-packages/", "x86_64", "python3.12"):
        assert any(word in line for line in lines), word
    package_rows = [
        line
        for line in lines
        if line.startswith(("numpy ", "opentelemetry-", "idna ", "fastjson "))
    ]
    assert all(line.endswith("%") for line in package_rows), package_rows  # % never wraps
    assert (
        any(line.startswith(LONG_NAME[:20]) and "…" in line for line in lines) == (width == 80)
        or LONG_NAME in text
    )


def _cli(layer: Layer, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(["inspect", str(layer.zip), *layer.args, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("make", LAYERS, ids=lambda make: make.__name__)
def test_terminal_json_and_html_agree(
    make: Callable[[Path], Layer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = make(tmp_path)
    page_path = tmp_path / "report.html"
    code, text, err = _cli(layer, "--html", str(page_path), capsys=capsys)
    json_code, document, _ = _cli(layer, "--json", capsys=capsys)
    view = json.loads(document)
    page = page_path.read_text()
    flat_text = " ".join(text.split())
    assert code == json_code == {"passing": 0, "over": 3, "failing": 5}[layer.name]
    assert view["state"] == {"passing": "fits", "over": "over", "failing": "failing"}[layer.name]
    # the same verdict, word for word
    assert view["verdict"] in flat_text
    assert f'<div class="verdict {view["state"]}">{view["verdict"]}</div>' in page
    # the same problems
    for problem in (p for p in view["problems"] if not p["waived"]):
        assert " ".join(problem["summary"].split()) in flat_text
        assert problem["summary"] not in err  # listed once: the report, not again on stderr
        assert escape(problem["path"]) in page and escape(problem["hint"]) in page
    # the same savings, as shares of the budget
    for rule in (r for r in view["slimming"]["rules"] if r["files"]):
        share = share_text(rule["bytes"], view["budget_bytes"])
        assert f"{rule['rule']}: " in text and f"({share} of the budget" in text
        assert f"<code>{rule['rule']}</code>" in page
    # the same percentages of the budget for every package
    for dist in view["distributions"]:
        share = share_text(dist["bytes"], view["budget_bytes"])
        assert abs(dist["percent_of_budget"] - 100 * dist["bytes"] / view["budget_bytes"]) < 0.1
        row = next(line for line in text.splitlines() if line.startswith(dist["name"][:12]))
        assert row.rstrip().endswith(share)
        assert re.search(
            rf'data-name="{re.escape(dist["name"])}".*?<td class="num">'
            rf"{re.escape(share.replace('<', '&lt;'))}</td>",
            page,
        )
    # the same notes
    for note in view["notes"]:
        assert escape(note) in page and " ".join(note.split()) in flat_text


def test_failing_layer_says_problems_once_and_keeps_error_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = LAYERS[2](tmp_path)
    code, out, err = _cli(layer, capsys=capsys)
    assert code == 5
    assert err.startswith("error: 3 problems would stop layer failing.zip from working on its ")
    assert "(listed above)" in err and "\nhint: " in err
    assert out.count("✗") == 3 and "fix: " in out
    # with --json nothing lists them on stdout in words, so stderr does
    _, _, json_err = _cli(layer, "--json", capsys=capsys)
    assert "is built for AArch64" in json_err


def test_the_target_origin_names_where_each_part_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = passing_layer(tmp_path)
    manifest = {
        "schema": "layerkit/manifest", "schema_version": 1, "layerkit_version": "0.1.0",
        "name": "passing", "python": "3.12", "arch": "x86_64", "runtime": "python3.12",
        "abi": "cp312", "glibc": "2.34", "installer": "uv", "installer_version": "0",
        "zip": "passing.zip", "sha256": "0" * 64, "code_sha256": "", "file_count": 3,
        "unzipped_bytes": 1, "zipped_bytes": 1, "budget_bytes": 50 * 1024 * 1024,
        "distributions": [],
    }  # fmt: skip
    layer.zip.with_suffix(".json").write_text(json.dumps(manifest))
    _, out, _ = _cli(Layer("p", layer.zip, ("--arch", "arm64")), capsys=capsys)
    assert "python3.12 arm64, python from the manifest, architecture from the command line" in (
        " ".join(out.split())
    )
    _, document, _ = _cli(Layer("p", layer.zip, ("--arch", "arm64", "--json")), capsys=capsys)
    assert json.loads(document)["target_origins"] == {
        "python": "manifest",
        "architecture": "given",
    }
    _, out, _ = _cli(Layer("p", layer.zip, ()), capsys=capsys)
    assert "python3.12 x86_64, from the manifest" in out


def _artifacts(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("LAYERKIT_ARTIFACTS") or tmp_path / "artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.mark.parametrize("make", LAYERS, ids=lambda make: make.__name__)
def test_the_first_screen_in_chromium_answers_the_three_questions(
    make: Callable[[Path], Layer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = make(tmp_path)
    artifacts = _artifacts(tmp_path)
    page = artifacts / f"inspect-{layer.name}.html"
    _cli(layer, "--html", str(page), capsys=capsys)
    again = tmp_path / "again.html"
    _cli(layer, "--html", str(again), capsys=capsys)
    assert page.read_bytes() == again.read_bytes()  # deterministic for the same zip

    browser = _open_in_chromium(page, tmp_path, artifacts)  # the PNG lands beside the page
    assert _ran_cleanly(browser), browser.console
    tops = dict(re.findall(r'data-q="([a-z]+)" data-top="(\d+)"', browser.dom))
    assert {k: int(v) for k, v in tops.items() if k != "treemap"}.keys() >= {
        "verdict", "fit", "run", "smaller", "packages"
    }  # fmt: skip
    for question in ("verdict", "fit", "run", "smaller"):
        assert int(tops[question]) < FIRST_SCREEN - 60, (question, tops)
    assert int(tops["verdict"]) < int(tops["fit"]) < int(tops["run"]) < int(tops["smaller"])
    state = {"passing": "fits", "over": "over", "failing": "failing"}[layer.name]
    assert f'<body class="{state}"' in browser.dom
    if layer.name == "failing":
        assert browser.dom.count('<tr class="problem">') == 3
    assert browser.screenshot.parent == artifacts and browser.screenshot.stat().st_size > 10_000
