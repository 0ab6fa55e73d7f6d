"""The layer report as one self-contained HTML page: no external URL, opens offline.

The first screen answers a reviewer's three questions, in this order: does it fit (one bar of the
budget), does it run (every problem, red, with file, package, need, offer and fix), what could be
smaller (savings per slimming rule). Then the packages as a table with headers, each package's
files collapsed in a ``<details>``, and a treemap of the layer as inline SVG. Colour follows the
report's state: green with headroom, amber under 10% left, red over or failing. Every figure comes
from `layerkit.layerreport`, which the terminal and `--json` share; every name is escaped.

Everything is inline (CSS, a small script, SVG) and a Content-Security-Policy forbids the page to
load anything. The page is complete without its script, which only adds filtering and sorting and
notes where each section landed (``data-top``) for a headless browser's check. It marks the body
``data-report-status="ok"`` when it ran, and any script error sets ``data-report-error`` on the
root element. The same report gives the same bytes: nothing depends on time or order of a dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

from layerkit import __version__
from layerkit.budget import UNOWNED
from layerkit.layerreport import LayerReport, Problem, Saving, share_text
from layerkit.report import human_bytes, plural

if TYPE_CHECKING:
    from layerkit.budget import SizeReport
    from layerkit.contents import FileEntry, InstalledDistribution

# Packages drawn in their own colour in the treemap; the rest share one grey.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
    "#e15759",
)
OTHERS_COLOUR = "#bab0ac"
DEFAULT_MAX_FILES = 200
TREEMAP_WIDTH, TREEMAP_HEIGHT = 1000, 360

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

_STYLE = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --soft: #f6f8fa;
  --fits: #1a7f37; --fits-bg: #dafbe1; --tight: #9a6700; --tight-bg: #fff8c5;
  --red: #cf222e; --red-bg: #ffebe9; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 20px 24px; color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 22px; margin: 0; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 0 0 6px; }
section { margin: 14px 0; }
.muted { color: var(--muted); }
.verdict { display: inline-block; margin: 6px 0 0; padding: 3px 10px; border-radius: 12px;
  font-weight: 600; }
.fits .verdict, .verdict.fits { background: var(--fits-bg); color: var(--fits); }
.tight .verdict, .verdict.tight { background: var(--tight-bg); color: var(--tight); }
.over .verdict, .failing .verdict { background: var(--red-bg); color: var(--red); }
.meter { position: relative; height: 22px; background: var(--soft); border: 1px solid var(--line);
  border-radius: 4px; overflow: hidden; }
.meter .used { position: absolute; left: 0; top: 0; bottom: 0; }
.fits .used { background: var(--fits); } .tight .used { background: #d4a72c; }
.over .used, .failing .used { background: var(--red); }
.budget-mark { position: absolute; top: -1px; bottom: -1px; width: 3px; margin-left: -1px;
  background: var(--fg); }
.scale { display: flex; justify-content: space-between; font-size: 12px; margin-top: 2px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; border-bottom: 1px solid var(--line); padding: 4px 8px; }
td { padding: 3px 8px; border-top: 1px solid #eaeef2; vertical-align: top; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .path { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
  overflow-wrap: anywhere; }
table.problems td { color: var(--fg); }
table.problems tr.problem td:first-child { border-left: 3px solid var(--red); }
.none { color: var(--fits); font-weight: 600; }
.problems-count { color: var(--red); }
tr.waived td { color: var(--muted); }
table.problems tr.warning td:first-child { border-left: 3px solid #d4a72c; }
ul.notes { margin: 6px 0 0; padding-left: 18px; }
#filter { width: 100%; max-width: 420px; padding: 5px 10px; margin: 0 0 8px;
  border: 1px solid var(--line); border-radius: 6px; font: inherit; }
th button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0;
  cursor: pointer; color: inherit; }
.track { position: relative; height: 12px; min-width: 120px; background: var(--soft);
  border-radius: 3px; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px; }
tr.files-row td { border-top: 0; padding-top: 0; }
details.files > summary { cursor: pointer; color: var(--muted); font-size: 12px; }
table.files td { font-size: 12px; padding: 1px 6px; }
svg.treemap { width: 100%; height: auto; display: block; }
svg.treemap text { font: 12px system-ui, sans-serif; fill: #fff; }
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
  var table = document.getElementById("packages-table");
  var bodies = Array.prototype.slice.call(table.querySelectorAll("tbody.dist"));
  function apply() {
    var needle = filter.value.trim().toLowerCase();
    bodies.forEach(function (body) {
      var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-path]"));
      var nameHit = needle === "" || body.dataset.name.toLowerCase().indexOf(needle) >= 0;
      var fileHits = 0;
      rows.forEach(function (row) {
        var hit = nameHit || row.dataset.path.toLowerCase().indexOf(needle) >= 0;
        row.classList.toggle("hidden", !hit);
        if (hit) { fileHits += 1; }
      });
      body.classList.toggle("hidden", !nameHit && fileHits === 0);
      var details = body.querySelector("details");
      if (details && needle !== "" && !nameHit && fileHits > 0) { details.open = true; }
    });
  }
  function sortBy(key, numeric) {
    var descending = table.dataset.sort === key ? table.dataset.order !== "desc" : numeric;
    bodies.sort(function (a, b) {
      var x = numeric ? Number(a.dataset[key]) : a.dataset[key].toLowerCase();
      var y = numeric ? Number(b.dataset[key]) : b.dataset[key].toLowerCase();
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return descending ? -order : order;
    });
    bodies.forEach(function (body) { table.appendChild(body); });
    table.dataset.sort = key;
    table.dataset.order = descending ? "desc" : "asc";
  }
  Array.prototype.slice.call(table.querySelectorAll("th button")).forEach(function (button) {
    button.addEventListener("click", function () {
      sortBy(button.dataset.key, button.dataset.numeric === "1");
    });
  });
  filter.addEventListener("input", apply);
  apply();
  Array.prototype.slice.call(document.querySelectorAll("[data-q]")).forEach(function (el) {
    el.setAttribute("data-top", String(Math.round(el.getBoundingClientRect().top + scrollY)));
  });
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


def _fit_section(report: LayerReport) -> str:
    """Does it fit: the layer as one bar of the budget, and what the budget leaves out."""
    size = report.size
    used = share_text(size.total_bytes, size.budget_bytes)
    if size.over_budget:
        left = f"{human_bytes(-size.headroom_bytes)} over"
    else:
        left = f"{human_bytes(size.headroom_bytes)} left"
    zipped = f", {human_bytes(report.zipped_bytes)} zipped" if report.zipped_bytes else ""
    # The bar is the budget; over it, the bar is the layer and the budget a mark inside it.
    scale = max(size.total_bytes, size.budget_bytes)
    mark = (
        f'<div class="budget-mark" style="left:{_percent(size.budget_bytes, scale)}" '
        'title="the budget"></div>'
        if size.over_budget
        else ""
    )
    limit = (
        f"Lambda's limit, {human_bytes(size.limit_bytes)} unzipped, counts the function's code "
        "and all its layers together; "
        + (
            "this budget is that whole limit, so leave room for the function's code and any "
            "other layer."
            if size.budget_bytes >= size.limit_bytes
            else f"this budget leaves {human_bytes(size.limit_bytes - size.budget_bytes)} "
            "of it for the function's code and other layers."
        )
    )
    return (
        '<section id="fit" data-q="fit"><h2>Does it fit?</h2>'
        f'<div class="meter" role="img" aria-label="{escape(used)} of the budget">'
        f'<div class="used" style="width:{_percent(size.total_bytes, scale)}"></div>{mark}</div>'
        f'<div class="scale"><span><b>{escape(human_bytes(size.total_bytes))}</b> unzipped '
        f"({escape(used)} of the budget{escape(zipped)}), {plural(size.file_count, 'file')}</span>"
        f"<span><b>{escape(left)}</b> of the {escape(human_bytes(size.budget_bytes))} budget"
        f"</span></div>"
        f'<p class="muted">{escape(limit)}</p></section>'
    )


def _problem_row(problem: Problem) -> str:
    css = (
        "waived" if problem.waived else ("warning" if problem.severity == "warning" else "problem")
    )
    package = escape(problem.package) if problem.package else '<span class="muted">—</span>'
    waived = " (waived)" if problem.waived else (" (warning)" if css == "warning" else "")
    return (
        f'<tr class="{css}"><td class="path">{escape(problem.path)}</td><td>{package}</td>'
        f"<td>{escape(problem.needs)}</td><td>{escape(problem.offers)}</td>"
        f"<td>{escape(problem.fix)}{waived}</td></tr>"
    )


def _run_section(report: LayerReport) -> str:
    """Does it run: every problem first, red, with file, package, need, offer and fix."""
    target = f"{report.runtime} {report.architecture}"
    blocking = report.blocking
    if blocking:
        count = len(blocking)
        lead = (
            f'<p class="problems-count"><b>{plural(count, "problem")}</b> would '
            f"stop this layer from working on {escape(target)}.</p>"
        )
    else:
        shown = len(report.problems)
        verb = "does" if shown == 1 else "do"
        also = f" ({plural(shown, 'finding')} below {verb} not fail it)" if shown else ""
        lead = f'<p class="none">No problems found for {escape(target)}{also}.</p>'
    table = ""
    if report.problems:
        # errors first, then warnings, then what was waived
        ordered = sorted(report.problems, key=lambda p: (p.waived, p.severity == "warning"))
        table = (
            '<table class="problems"><thead><tr><th>File</th><th>Package</th><th>Needs</th>'
            "<th>Target offers</th><th>Fix</th></tr></thead><tbody>"
            f"{''.join(_problem_row(p) for p in ordered)}</tbody></table>"
        )
    return f'<section id="run" data-q="run"><h2>Does it run?</h2>{lead}{table}</section>'


def _saving_row(saving: Saving, budget: int) -> str:
    approx = "~" if saving.estimated else ""
    return (
        f"<tr><td><code>{escape(saving.rule)}</code></td><td>{escape(saving.description)}</td>"
        f'<td class="num">{saving.files:,}</td>'
        f'<td class="num">{approx}{escape(human_bytes(saving.bytes))}</td>'
        f'<td class="num">{escape(share_text(saving.bytes, budget))}</td></tr>'
    )


def _smaller_section(report: LayerReport) -> str:
    """What could be smaller: savings per rule, then warnings and notes."""
    savings = report.found_savings
    if savings:
        budget = report.size.budget_bytes
        body = (
            '<table class="savings"><thead><tr><th>Rule</th><th>What it removes</th>'
            '<th class="num">Files</th><th class="num">Saves</th>'
            '<th class="num">% of budget</th></tr></thead><tbody>'
            f"{''.join(_saving_row(s, budget) for s in savings)}</tbody></table>"
        )
    else:
        body = '<p class="muted">Nothing: no slimming rule would remove anything.</p>'
    notes = [("warning", w) for w in report.warnings] + [("note", n) for n in report.notes]
    if notes:
        items = "".join(f"<li><b>{kind}:</b> {escape(text)}</li>" for kind, text in notes)
        body += f'<ul class="notes">{items}</ul>'
    return f'<section id="smaller" data-q="smaller"><h2>What could be smaller?</h2>{body}</section>'


def _colours(size: SizeReport) -> dict[str, str]:
    return {d.name: PALETTE[i] for i, d in enumerate(size.distributions[: len(PALETTE)])}


def _file_rows(files: Sequence[tuple[str, int]], max_files: int) -> str:
    ordered = sorted(files, key=lambda f: (-f[1], f[0]))
    rows = [
        f'<tr data-path="{escape(path)}"><td class="path">{escape(path)}</td>'
        f'<td class="num">{escape(human_bytes(size))}</td></tr>'
        for path, size in ordered[:max_files]
    ]
    rest = ordered[max_files:]
    if rest:
        rows.append(
            f'<tr class="more"><td class="path muted">… {len(rest)} more files</td>'
            f'<td class="num">{escape(human_bytes(sum(s for _, s in rest)))}</td></tr>'
        )
    return f'<table class="files">{"".join(rows)}</table>'


def _packages_section(
    report: LayerReport,
    files_by_distribution: Mapping[str, Sequence[tuple[str, int]]],
    max_files: int,
) -> str:
    """Packages as a table with headers; each package's files collapsed until asked for."""
    size = report.size
    colours = _colours(size)
    bodies = []
    for dist in size.distributions:
        colour = colours.get(dist.name, OTHERS_COLOUR)
        share = share_text(dist.bytes, size.budget_bytes)
        files = files_by_distribution.get(dist.name, ())
        listing = (
            f'<tr class="files-row"><td colspan="5"><details class="files">'
            f"<summary>{plural(dist.files, 'file')}</summary>"
            f"{_file_rows(files, max_files)}</details>"
            "</td></tr>"
            if files
            else ""
        )
        bodies.append(
            f'<tbody class="dist" data-name="{escape(dist.name)}" data-bytes="{dist.bytes}" '
            f'data-files="{dist.files}"><tr>'
            f"<td><b>{escape(dist.name)}</b></td><td>{escape(dist.version)}</td>"
            f'<td class="num">{escape(human_bytes(dist.bytes))}</td>'
            f'<td><div class="track" title="{escape(share)} of the budget"><div class="fill" '
            f'style="width:{_percent(dist.bytes, size.budget_bytes)};background:{colour}">'
            f"</div></div></td>"
            f'<td class="num">{escape(share)}</td></tr>{listing}</tbody>'
        )
    header = (
        '<thead><tr><th><button type="button" data-key="name">Package</button></th>'
        "<th>Version</th>"
        '<th class="num"><button type="button" data-key="bytes" data-numeric="1">Size</button>'
        '</th><th>Share of the budget</th><th class="num">%</th></tr></thead>'
    )
    return (
        '<section id="packages" data-q="packages"><h2>Packages</h2>'
        '<input id="filter" type="search" placeholder="filter packages and files" '
        'aria-label="filter packages and files">'
        f'<table id="packages-table" class="packages">{header}{"".join(bodies)}</table>'
        "</section>"
    )


def _worst(row: Sequence[float], side: float) -> float:
    """The worst aspect ratio of `row` laid along a side of length `side`."""
    total = sum(row)
    return max(
        max(side * side * s / (total * total), total * total / (side * side * s)) for s in row
    )


def _squarify(
    sizes: Sequence[float], x: float, y: float, w: float, h: float
) -> list[tuple[float, float, float, float]]:
    """Rectangles for `sizes` (largest first, summing to w*h) filling the box, as square as
    they can be (Bruls, Huizing, van Wijk: squarified treemaps)."""
    rects: list[tuple[float, float, float, float]] = []
    items = list(sizes)
    while items:
        side = min(w, h)
        row: list[float] = []

        while items and (not row or _worst([*row, items[0]], side) <= _worst(row, side)):
            row.append(items.pop(0))
        total = sum(row)
        thickness = total / side if side else 0.0
        offset = 0.0
        for s in row:
            length = s / thickness if thickness else 0.0
            if w >= h:  # a column on the left
                rects.append((x, y + offset, thickness, length))
            else:  # a row on top
                rects.append((x + offset, y, length, thickness))
            offset += length
        if w >= h:
            x, w = x + thickness, w - thickness
        else:
            y, h = y + thickness, h - thickness
    return rects


def _treemap(report: LayerReport) -> str:
    """The layer's packages as areas, inline SVG readable without script."""
    size = report.size
    parts = [d for d in size.distributions if d.bytes > 0]
    total = sum(d.bytes for d in parts)
    if not total:
        return ""
    area = TREEMAP_WIDTH * TREEMAP_HEIGHT
    rects = _squarify(
        [d.bytes / total * area for d in parts], 0.0, 0.0, TREEMAP_WIDTH, TREEMAP_HEIGHT
    )
    colours = _colours(size)
    shapes = []
    for dist, (x, y, w, h) in zip(parts, rects, strict=True):
        label = f"{dist.name} {human_bytes(dist.bytes)}"
        share = share_text(dist.bytes, size.budget_bytes)
        shapes.append(
            f'<g><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="{colours.get(dist.name, OTHERS_COLOUR)}" stroke="#fff" stroke-width="1">'
            f"<title>{escape(label)} ({escape(share)} of the budget)</title></rect>"
        )
        chars = int((w - 8) / 7)
        if h >= 18 and chars >= 4:
            text = label if len(label) <= chars else label[: chars - 1] + "…"
            shapes.append(f'<text x="{x + 4:.1f}" y="{y + 15:.1f}">{escape(text)}</text>')
        shapes.append("</g>")
    return (
        '<section id="treemap" data-q="treemap"><h2>The layer by package</h2>'
        f'<svg class="treemap" viewBox="0 0 {TREEMAP_WIDTH} {TREEMAP_HEIGHT}" role="img" '
        f'aria-label="treemap of the layer by package">{"".join(shapes)}</svg></section>'
    )


def render_html(
    report: LayerReport,
    *,
    files_by_distribution: Mapping[str, Sequence[tuple[str, int]]],
    max_files: int = DEFAULT_MAX_FILES,
) -> str:
    """The report as a self-contained HTML page.

    `files_by_distribution` maps each package of the report to its (path, bytes) files; each
    lists its `max_files` largest files and sums up the rest.
    """
    title = f"{report.name}: {report.runtime} {report.architecture}"
    zipped = f" · {human_bytes(report.zipped_bytes)} zipped" if report.zipped_bytes else ""
    subtitle = (
        f"{report.runtime} {report.architecture} ({report.origin_text}) · {report.kind}{zipped}"
        f" · packages in {report.packages_dir}/"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{_HEAD_SCRIPT}</script></head>\n"
        f'<body class="{report.state}" data-report-status="static" data-state="{report.state}">'
        f'<header id="verdict" data-q="verdict"><h1>{escape(report.name)}</h1>'
        f'<div class="muted">{escape(subtitle)}</div>'
        f'<div class="verdict {report.state}">{escape(report.verdict)}</div></header>\n'
        f"<main>{_fit_section(report)}\n{_run_section(report)}\n{_smaller_section(report)}\n"
        f"{_packages_section(report, files_by_distribution, max_files)}\n{_treemap(report)}"
        "</main>\n"
        f'<footer class="muted">written by layerkit {escape(__version__)}</footer>\n'
        f"<script>{_BODY_SCRIPT}</script></body></html>\n"
    )
