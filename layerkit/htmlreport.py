"""The size report as one self-contained HTML page: no external URL, opens offline.

Everything is inline (CSS, a small script, SVG) and a Content-Security-Policy forbids the page to
load anything, so it renders the same from a CI artifact, an e-mail or a laptop on a plane. The
page is complete without its script; the script only adds filtering. It marks the body
``data-report-status="ok"`` when it ran, and any script error sets ``data-report-error`` on the
root element, so a headless browser can tell that the page ran cleanly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

from layerkit import __version__
from layerkit.budget import UNOWNED, SizeReport
from layerkit.report import human_bytes

if TYPE_CHECKING:  # the terminal chart imports this module; it needs none of contents' parsers
    from layerkit.contents import FileEntry, InstalledDistribution

# Distributions drawn in their own colour in the overview; the rest share one grey segment.
OVERVIEW_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
)
OTHERS_COLOUR = "#bab0ac"
DEFAULT_MAX_FILES = 200

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

_STYLE = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bar: #4e79a7; --over: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px; color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; }
.muted { color: var(--muted); }
.totals { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 16px 0; padding: 0;
  list-style: none; }
.totals li { display: flex; flex-direction: column; }
.totals b { font-size: 18px; }
.verdict { display: inline-block; padding: 2px 8px; border-radius: 10px; font-weight: 600;
  background: #dafbe1; color: #116329; }
.verdict.over { background: #ffebe9; color: var(--over); }
svg.overview { width: 100%; height: auto; display: block; margin: 8px 0 4px; }
svg.overview text { font: 12px system-ui, sans-serif; fill: var(--fg); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 0 0 20px; padding: 0;
  list-style: none; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
#filter { width: 100%; max-width: 420px; padding: 6px 10px; margin: 4px 0 12px;
  border: 1px solid var(--line); border-radius: 6px; font: inherit; }
details.dist { border-top: 1px solid var(--line); }
details.dist > summary { display: grid; cursor: pointer; align-items: center; padding: 5px 0;
  grid-template-columns: minmax(160px, 2fr) 90px minmax(200px, 5fr) 90px 56px 80px; gap: 12px; }
details.dist > summary::-webkit-details-marker { display: none; }
details.dist > summary .name::before { content: "\\25B8\\00A0"; color: var(--muted); }
details.dist[open] > summary .name::before { content: "\\25BE\\00A0"; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.track { position: relative; height: 14px; background: #f6f8fa; border-radius: 3px; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px;
  background: var(--bar); }
table.files { width: 100%; border-collapse: collapse; margin: 2px 0 10px; font-size: 12px; }
table.files td { padding: 2px 6px; border-top: 1px solid #eaeef2; }
table.files td.path { font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
  overflow-wrap: anywhere; width: 60%; }
table.files td.bar { width: 25%; }
.hidden { display: none !important; }
footer { margin-top: 24px; font-size: 12px; }
"""

_HEAD_SCRIPT = """
window.addEventListener("error", function (event) {
  var message = String(event.message || event.type || "error");
  document.documentElement.setAttribute("data-report-error", message);
  document.title = "error: " + message;
});
"""

_BODY_SCRIPT = """
(function () {
  var filter = document.getElementById("filter");
  var dists = Array.prototype.slice.call(document.querySelectorAll("details.dist"));
  function apply() {
    var needle = filter.value.trim().toLowerCase();
    dists.forEach(function (dist) {
      var rows = Array.prototype.slice.call(dist.querySelectorAll("tr[data-path]"));
      var nameHit = needle === "" || dist.dataset.name.toLowerCase().indexOf(needle) >= 0;
      var fileHits = 0;
      rows.forEach(function (row) {
        var hit = nameHit || row.dataset.path.toLowerCase().indexOf(needle) >= 0;
        row.classList.toggle("hidden", !hit);
        if (hit) { fileHits += 1; }
      });
      dist.classList.toggle("hidden", !nameHit && fileHits === 0);
      if (needle !== "" && !nameHit && fileHits > 0) { dist.open = true; }
    });
  }
  filter.addEventListener("input", apply);
  apply();
  document.body.setAttribute("data-report-status", "ok");
})();
"""


def _percent(part: int, whole: int) -> str:
    """A CSS width: `part` of `whole` in percent, clamped to 0-100."""
    if whole <= 0:
        return "0%"
    return f"{min(100.0, max(0.0, 100.0 * part / whole)):.3f}%"


def files_by_distribution(
    entries: Sequence[FileEntry], distributions: Iterable[InstalledDistribution]
) -> dict[str, list[tuple[str, int]]]:
    """Each distribution's (path, bytes) files, as `render_html` takes them.

    Files no RECORD claims are listed under the same name `size_report` gives them.
    """
    size_of = {e.path: e.size for e in entries}
    listing: dict[str, list[tuple[str, int]]] = {}
    owned: set[str] = set()
    for dist in distributions:
        files = [f for f in dist.files if f in size_of]
        owned.update(files)
        listing[dist.name] = [(f, size_of[f]) for f in files]
    unowned = [(p, s) for p, s in size_of.items() if p not in owned]
    if unowned:
        listing[UNOWNED] = unowned
    return listing


def share_text(part: int, whole: int) -> str:
    """'64%', or '<1%' for a part too small to round up to a percent (but not nothing)."""
    if whole <= 0 or part <= 0:
        return "0%"
    share = part / whole
    return "<1%" if share < 0.005 else f"{share:.0%}"


def _overview_svg(report: SizeReport) -> str:
    """The layer as one stacked bar of distributions, with the budget and Lambda's limit."""
    width, bar_top, bar_height = 1000.0, 22.0, 28.0
    scale = max(report.total_bytes, report.budget_bytes, report.limit_bytes, 1)
    parts: list[str] = []
    x = 0.0
    coloured = report.distributions[: len(OVERVIEW_COLOURS)]
    others = sum(d.bytes for d in report.distributions[len(OVERVIEW_COLOURS) :])
    segments = [(d.name, d.bytes, OVERVIEW_COLOURS[i]) for i, d in enumerate(coloured)]
    if others:
        segments.append(("others", others, OTHERS_COLOUR))
    for name, size, colour in segments:
        w = width * size / scale
        parts.append(
            f'<rect x="{x:.2f}" y="{bar_top}" width="{w:.2f}" height="{bar_height}" '
            f'fill="{colour}"><title>{escape(name)}: {escape(human_bytes(size))}</title></rect>'
        )
        x += w
    if report.over_budget:
        start = width * report.budget_bytes / scale
        parts.append(
            f'<rect class="overflow" x="{start:.2f}" y="{bar_top - 3}" '
            f'width="{x - start:.2f}" height="{bar_height + 6}" fill="#cf222e" opacity="0.35">'
            f"<title>over the budget by {escape(human_bytes(-report.headroom_bytes))}</title>"
            "</rect>"
        )
    lines = [("budget", report.budget_bytes, "#1f2328")]
    if report.limit_bytes != report.budget_bytes:
        lines.append(("Lambda limit", report.limit_bytes, "#cf222e"))
    for index, (label, size, colour) in enumerate(lines):
        lx = width * size / scale
        anchor = "end" if lx > width / 2 else "start"
        text_x = lx - 4 if anchor == "end" else lx + 4
        text_y = 14 if index == 0 else bar_top + bar_height + 14
        parts.append(
            f'<line class="limit" x1="{lx:.2f}" x2="{lx:.2f}" y1="4" '
            f'y2="{bar_top + bar_height + 4}" stroke="{colour}" stroke-width="2" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{text_x:.2f}" y="{text_y}" text-anchor="{anchor}">'
            f"{escape(label)} {escape(human_bytes(size))}</text>"
        )
    height = bar_top + bar_height + 20
    return (
        f'<svg class="overview" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="layer size against the budget">'
        f'<rect x="0" y="{bar_top}" width="{width:.0f}" height="{bar_height}" fill="#f6f8fa"/>'
        f"{''.join(parts)}</svg>"
    )


def _legend(report: SizeReport) -> str:
    items = [
        f'<li><span class="swatch" style="background:{OVERVIEW_COLOURS[i]}"></span>'
        f"{escape(d.name)} {escape(human_bytes(d.bytes))}</li>"
        for i, d in enumerate(report.distributions[: len(OVERVIEW_COLOURS)])
    ]
    rest = report.distributions[len(OVERVIEW_COLOURS) :]
    if rest:
        size = human_bytes(sum(d.bytes for d in rest))
        items.append(
            f'<li><span class="swatch" style="background:{OTHERS_COLOUR}"></span>'
            f"{len(rest)} others {escape(size)}</li>"
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def _file_rows(files: Sequence[tuple[str, int]], dist_bytes: int, max_files: int) -> str:
    ordered = sorted(files, key=lambda f: (-f[1], f[0]))
    rows = [
        f'<tr data-path="{escape(path)}"><td class="path">{escape(path)}</td>'
        f'<td class="bar"><div class="track"><div class="fill" '
        f'style="width:{_percent(size, dist_bytes)}"></div></div></td>'
        f'<td class="num">{escape(human_bytes(size))}</td></tr>'
        for path, size in ordered[:max_files]
    ]
    rest = ordered[max_files:]
    if rest:
        rows.append(
            f'<tr class="more"><td class="path muted">… {len(rest)} more files</td><td></td>'
            f'<td class="num">{escape(human_bytes(sum(s for _, s in rest)))}</td></tr>'
        )
    return f'<table class="files">{"".join(rows)}</table>' if rows else ""


def _distribution_rows(
    report: SizeReport,
    files_by_distribution: Mapping[str, Sequence[tuple[str, int]]],
    max_files: int,
) -> str:
    colours = {
        d.name: OVERVIEW_COLOURS[i]
        for i, d in enumerate(report.distributions[: len(OVERVIEW_COLOURS)])
    }
    rows = []
    for index, dist in enumerate(report.distributions):
        colour = colours.get(dist.name, OTHERS_COLOUR)
        rows.append(
            f'<details class="dist" data-name="{escape(dist.name)}"{" open" if index == 0 else ""}>'
            "<summary>"
            f'<span class="name">{escape(dist.name)}</span>'
            f'<span class="muted">{escape(dist.version)}</span>'
            f'<span class="track" title="share of the budget"><span class="fill" '
            f'style="width:{_percent(dist.bytes, report.budget_bytes)};background:{colour}">'
            f"</span></span>"
            f'<span class="num">{escape(human_bytes(dist.bytes))}</span>'
            f'<span class="num">{share_text(dist.bytes, report.total_bytes)}</span>'
            f'<span class="num muted">{dist.files} files</span></summary>'
            f"{_file_rows(files_by_distribution.get(dist.name, ()), dist.bytes, max_files)}"
            f"</details>"
        )
    return "".join(rows)


def render_html(
    report: SizeReport,
    *,
    title: str,
    files_by_distribution: Mapping[str, Sequence[tuple[str, int]]],
    max_files: int = DEFAULT_MAX_FILES,
    problems: Sequence[str] = (),
    savings: Sequence[str] = (),
) -> str:
    """The report as a self-contained HTML page.

    `problems` (each problem in words) and `savings` (what each slimming rule would save) are
    shown as the terminal shows them: a layer with problems is never called fine.

    `files_by_distribution` maps each distribution name of `report` to its (path, bytes) files;
    each distribution lists its `max_files` largest files and sums up the rest.
    """
    used = report.total_bytes / report.budget_bytes if report.budget_bytes else 0.0
    if report.over_budget:
        verdict = (
            f'<span class="verdict over">over budget by '
            f"{escape(human_bytes(-report.headroom_bytes))}</span>"
        )
    else:
        verdict = (
            f'<span class="verdict">within budget: '
            f"{escape(human_bytes(report.headroom_bytes))} left</span>"
        )
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        verdict = f'<span class="verdict over">{count}: it would not run as is</span> {verdict}'
    findings = (
        f'<section id="problems"><h2>Problems ({len(problems)})</h2><ul>'
        + "".join(f"<li>{escape(line)}</li>" for line in problems)
        + "</ul></section>\n"
        if problems
        else '<section id="problems"><h2>Problems</h2><p>none</p></section>\n'
    )
    findings += (
        '<section id="slimming"><h2>What slimming would save</h2><p>'
        + escape("; ".join(savings) or "nothing")
        + "</p></section>\n"
    )
    totals = (
        f'<ul class="totals">'
        f'<li><span class="muted">unzipped</span><b>{escape(human_bytes(report.total_bytes))}'
        f"</b></li>"
        f'<li><span class="muted">files</span><b>{report.file_count:,}</b></li>'
        f'<li><span class="muted">distributions</span><b>{len(report.distributions)}</b></li>'
        f'<li><span class="muted">budget</span><b>{escape(human_bytes(report.budget_bytes))}'
        f" ({used:.0%} used)</b></li>"
        f'<li><span class="muted">Lambda limit</span>'
        f"<b>{escape(human_bytes(report.limit_bytes))}</b></li>"
        f"</ul>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{_HEAD_SCRIPT}</script></head>\n"
        '<body data-report-status="static">'
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="muted">{report.total_bytes:,} bytes unzipped against a budget of '
        f"{report.budget_bytes:,} bytes (Lambda's limit: {report.limit_bytes:,} bytes "
        f"for the function and all its layers). {verdict}</p></header>\n"
        f"<main>{totals}{findings}{_overview_svg(report)}{_legend(report)}\n"
        '<input id="filter" type="search" placeholder="filter distributions and files" '
        'aria-label="filter distributions and files">\n'
        '<section id="distributions">'
        f"{_distribution_rows(report, files_by_distribution, max_files)}</section></main>\n"
        f'<footer class="muted">written by layerkit {escape(__version__)}</footer>\n'
        f"<script>{_BODY_SCRIPT}</script></body></html>\n"
    )
