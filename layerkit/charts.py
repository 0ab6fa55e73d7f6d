"""The reports on a terminal (rich): the size chart against the budget, and `inspect`'s report.

Every line fits the console's width: names are cut with an ellipsis, never wrapped, and prose wraps
between words with a hanging indent, so a path or ``x86_64`` is never broken. Colour follows the
report's state (green with headroom, amber under 10% left, red over or failing); every figure
comes from `layerkit.layerreport`, which the JSON and HTML renderings share. Names from zips go
through `report.shown`, and into rich only as `Text`, never as markup.
"""

from __future__ import annotations

from rich.columns import Columns
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from layerkit.budget import SizeReport
from layerkit.layerreport import (
    STATE_COLOUR,
    LayerReport,
    State,
    budget_state,
    share_text,
)
from layerkit.report import human_bytes, plural, shown

BAR_WIDTH = 40
CHART_ROWS = 12
_EIGHTHS = " ▏▎▍▌▋▊▉"
BUDGET_MARK = "┃"
LIMIT_MARK = "╏"
ELLIPSIS = "…"
# The fixed columns of the package table: size ("1023.9 KiB"), share ("100%"), three 2-cell gaps.
_SIZE_WIDTH, _SHARE_WIDTH, _GAPS = 10, 4, 6
_NAME_MIN, _NAME_MAX = 16, 40


def fit(text: str, width: int) -> str:
    """`text` cut to `width` cells with an ellipsis at the end (names, never wrapped)."""
    return text if len(text) <= width else text[: max(0, width - 1)].rstrip() + ELLIPSIS


def fit_left(text: str, width: int) -> str:
    """`text` cut to `width` cells from the left (a path keeps its file name)."""
    return text if len(text) <= width else ELLIPSIS + text[len(text) - width + 1 :]


def bar_cells(size: int, scale: int, width: int) -> str:
    """A bar of `size` on a `scale` as `width` cells, in eighths of a cell; never wider."""
    if scale <= 0 or size <= 0:
        return ""
    eighths = round(min(size, scale) / scale * width * 8)
    if eighths == 0:
        eighths = 1  # something is there: show a sliver rather than nothing
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _mark_cell(size: int, scale: int, width: int, *, over: bool) -> int:
    # Past the budget, at least one cell is left after the mark to show the overflow in red.
    return min(width - (2 if over else 1), round(size / scale * width))


def _scale(report: SizeReport) -> int:
    """The bar's full width in bytes: the budget, or the layer when it is larger. Lambda's limit
    widens it only when it is near (within a quarter): far off, it would shrink the layer to a
    sliver."""
    scale = max(report.total_bytes, report.budget_bytes, 1)
    return report.limit_bytes if report.limit_bytes <= scale * 1.25 else scale


def limit_drawn(report: SizeReport) -> bool:
    """Whether Lambda's limit gets its own mark on the bar."""
    return report.limit_bytes != report.budget_bytes and report.limit_bytes <= _scale(report)


def total_bar(report: SizeReport, width: int = BAR_WIDTH, *, state: State | None = None) -> Text:
    """The whole layer against the budget, in the state's colour (red when over: past the
    budget's mark ``┃`` too); Lambda's limit, when near and different, marked ``╏``."""
    colour = STATE_COLOUR[state or budget_state(report)]
    scale = _scale(report)
    budget_cell = _mark_cell(report.budget_bytes, scale, width, over=report.over_budget)
    limit_cell = _mark_cell(report.limit_bytes, scale, width, over=False)
    filled = round(report.total_bytes / scale * width)
    if report.total_bytes and not filled:
        filled = 1
    text = Text()
    for index in range(width):
        if index == budget_cell:
            text.append(BUDGET_MARK, style="bold")
        elif index == limit_cell and limit_drawn(report):
            text.append(LIMIT_MARK, style="bold red")
        elif index < filled:
            text.append("█", style="red" if index > budget_cell else colour)
        else:
            text.append("·", style="dim")
    return text


def _widths(console_width: int, bar_width: int) -> tuple[int, int]:
    """(name, bar) widths so that a package row fits the console exactly, gaps counted."""
    fixed = _SIZE_WIDTH + _SHARE_WIDTH + _GAPS
    bar = max(10, min(bar_width, console_width - fixed - 28))
    name = max(_NAME_MIN, min(_NAME_MAX, console_width - fixed - bar))
    return name, bar


def render_size_chart(
    console: Console,
    report: SizeReport,
    *,
    state: State | None = None,
    rows: int = CHART_ROWS,
    width: int = BAR_WIDTH,
    header: bool = True,
) -> None:
    """Print the layer's size against the budget, then its largest packages as bars and
    percentages of the budget (one row each, however long the name)."""
    state = state or budget_state(report)
    name_width, width = _widths(console.width, width)
    used = share_text(report.total_bytes, report.budget_bytes)
    if report.over_budget:
        verdict = Text(f"{human_bytes(-report.headroom_bytes)} over budget", style="bold red")
    else:
        verdict = Text(f"{human_bytes(report.headroom_bytes)} left", style=STATE_COLOUR[state])
    if header:
        console.print(
            Text.assemble(
                (f"{human_bytes(report.total_bytes)}", "bold"),
                f" of {human_bytes(report.budget_bytes)} budget ({used}), ",
                verdict,
                f"; {plural(report.file_count, 'file')}",
            )
        )
    legend = f" {BUDGET_MARK} budget {human_bytes(report.budget_bytes)}"
    if limit_drawn(report):
        legend += f"  {LIMIT_MARK} Lambda limit {human_bytes(report.limit_bytes)}"
    console.print(Text.assemble(total_bar(report, width, state=state), legend), no_wrap=True)
    if not report.distributions:
        return

    table = Table(box=None, pad_edge=False, show_header=True, header_style="dim", padding=(0, 1))
    table.add_column("package", width=name_width, no_wrap=True, overflow="ellipsis")
    table.add_column("share of the budget", width=width, no_wrap=True)
    table.add_column("size", justify="right", width=_SIZE_WIDTH, no_wrap=True)
    table.add_column("%", justify="right", width=_SHARE_WIDTH, no_wrap=True)
    for dist in report.distributions[:rows]:
        table.add_row(
            Text(fit(shown(f"{dist.name} {dist.version}".rstrip()), name_width)),
            Text(bar_cells(dist.bytes, report.budget_bytes, width), style="cyan"),
            human_bytes(dist.bytes),
            share_text(dist.bytes, report.budget_bytes),
        )
    rest = report.distributions[rows:]
    if rest:
        size = sum(d.bytes for d in rest)
        table.add_row(
            f"{len(rest)} more",
            Text(bar_cells(size, report.budget_bytes, width), style="dim"),
            human_bytes(size),
            share_text(size, report.budget_bytes),
        )
    console.print(table)


def _fields(rows: list[tuple[str, RenderableType]]) -> Table:
    """Label/value lines; a value wraps between words under itself, never under the label."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _items(rows: list[tuple[Text, Text]]) -> Table:
    """A bulleted list with hanging indents."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=3, justify="right")
    grid.add_column()
    for mark, text in rows:
        grid.add_row(mark, text)
    return grid


def render_layer_report(console: Console, report: LayerReport, *, max_problems: int = 25) -> None:
    """`inspect`'s report: where and what the layer is, the verdict, sizes against the budget,
    every problem once (with its fix), what slimming would save, and notes."""
    colour = STATE_COLOUR[report.state]
    zipped = f", {human_bytes(report.zipped_bytes)} zipped" if report.zipped_bytes else ""
    files = plural(report.size.file_count, "file")
    console.print(
        _fields(
            [
                ("layer", Text(fit_left(shown(report.source), console.width - 10), no_wrap=True)),
                ("contents", Text(f"{report.kind}{zipped}, {files}")),
                (
                    "target",
                    Text(f"{report.runtime} {report.architecture}, {report.origin_text}"),
                ),
                ("packages", Text(shown(f"{report.packages_dir}/"))),
                ("verdict", Text(report.verdict, style=f"bold {colour}")),
            ]
        )
    )
    render_size_chart(console, report.size, state=report.state, header=False)
    # Each entry whole on one line (a size never parted from its name); as many per line as fit.
    top = [
        Text(fit(f"{shown(t.path)} {human_bytes(t.bytes)}", console.width - 12), no_wrap=True)
        for t in report.size.top_level[:4]
    ]
    if top:
        console.print(_fields([("top-level", Columns(top, padding=(0, 2)))]))

    blocking = report.blocking
    if not blocking:
        console.print(Text.assemble(("problems: ", "bold"), ("none", "green")))
    else:
        count = len(blocking)
        console.print(
            Text.assemble(
                ("problems: ", "bold"),
                (f"{count} would stop the layer from working on its target", "bold red"),
            )
        )
        rows: list[tuple[Text, Text]] = []
        for problem in blocking[:max_problems]:
            rows.append((Text("✗", style="red"), Text(shown(problem.summary))))
            rows.append((Text(""), Text.assemble(("fix: ", "dim"), shown(problem.fix))))
        if count > max_problems:
            rows.append((Text(""), Text(f"… and {count - max_problems} more (see --json)")))
        console.print(_items(rows))
    if report.cautions:
        console.print(
            _items(
                [
                    (Text("!", style="yellow"), Text(shown(f"warning: {p.summary}")))
                    for p in report.cautions
                ]
            )
        )
    waived = [p for p in report.problems if p.waived]
    if waived:
        console.print(
            _items([(Text("~", style="dim"), Text(shown(f"waived: {p.summary}"))) for p in waived])
        )

    savings = report.found_savings
    if not savings:
        console.print(Text.assemble(("slimming would save: ", "bold"), "nothing"))
    else:
        console.print(Text("slimming would save:", style="bold"))
        budget = report.size.budget_bytes
        console.print(
            _items(
                [
                    (
                        Text("-"),
                        Text(
                            f"{s.rule}: {'~' if s.estimated else ''}{human_bytes(s.bytes)} "
                            f"({share_text(s.bytes, budget)} of the budget, "
                            f"{plural(s.files, 'file')})"
                        ),
                    )
                    for s in savings
                ]
            )
        )
    notes = [("warning", Text(shown(w))) for w in report.warnings]
    notes += [("note", Text(shown(n))) for n in report.notes]
    if notes:
        console.print(_fields(list(notes)))
