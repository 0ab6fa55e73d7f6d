"""The size report as a terminal bar chart against the budget (rich).

One bar for the whole layer on a scale that holds the budget and Lambda's limit (marked ``┃``),
the part over the budget drawn in red; then one bar per distribution, as its share of the budget.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from layerkit.budget import SizeReport
from layerkit.htmlreport import share_text
from layerkit.report import human_bytes, shown

BAR_WIDTH = 40
CHART_ROWS = 12
_EIGHTHS = " ▏▎▍▌▋▊▉"
BUDGET_MARK = "┃"
LIMIT_MARK = "╏"


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


def total_bar(report: SizeReport, width: int = BAR_WIDTH) -> Text:
    """The whole layer on a scale holding budget and limit: green within the budget, red past
    it; the budget's position marked ``┃`` and Lambda's limit, when different, ``╏``."""
    scale = max(report.total_bytes, report.budget_bytes, report.limit_bytes, 1)
    budget_cell = _mark_cell(report.budget_bytes, scale, width, over=report.over_budget)
    limit_cell = _mark_cell(report.limit_bytes, scale, width, over=False)
    filled = round(report.total_bytes / scale * width)
    if report.total_bytes and not filled:
        filled = 1
    text = Text()
    for index in range(width):
        if index == budget_cell:
            text.append(BUDGET_MARK, style="bold")
        elif index == limit_cell and report.limit_bytes != report.budget_bytes:
            text.append(LIMIT_MARK, style="bold red")
        elif index < filled:
            text.append("█", style="red" if index > budget_cell else "green")
        else:
            text.append("·", style="dim")
    return text


def render_size_chart(
    console: Console, report: SizeReport, *, rows: int = CHART_ROWS, width: int = BAR_WIDTH
) -> None:
    """Print the layer's size against the budget, then its largest distributions as bars."""
    # Leave room for the name (~28), size (10) and share (5) columns on narrow consoles.
    width = max(10, min(width, console.width - 46))
    used = report.total_bytes / report.budget_bytes if report.budget_bytes else 0.0
    if report.over_budget:
        verdict = Text(f"{human_bytes(-report.headroom_bytes)} over budget", style="bold red")
    else:
        verdict = Text(f"{human_bytes(report.headroom_bytes)} left", style="green")
    header = Text.assemble(
        (f"{human_bytes(report.total_bytes)}", "bold"),
        f" of {human_bytes(report.budget_bytes)} budget ({used:.0%}), ",
        verdict,
        f"; {report.file_count:,} files",
    )
    console.print(header)
    legend = f" {BUDGET_MARK} budget"
    if report.limit_bytes != report.budget_bytes:
        legend += f"  {LIMIT_MARK} Lambda limit {human_bytes(report.limit_bytes)}"
    console.print(Text.assemble(total_bar(report, width), legend))

    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column("distribution", no_wrap=True)
    table.add_column("bar", width=width, no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True, min_width=9)
    table.add_column("share", justify="right", no_wrap=True, min_width=4)
    listed = report.distributions[:rows]
    for dist in listed:
        label = f"{dist.name} {dist.version}".rstrip()
        table.add_row(
            Text(shown(label)),  # a Text: METADATA's "[/oops]" is a name, not markup
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
