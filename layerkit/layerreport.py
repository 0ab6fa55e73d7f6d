"""One report of a layer, rendered three ways (terminal, `--json`, HTML) from the same data.

Every figure a rendering shows is computed here once: the state and its colour, each share as a
percentage *of the budget*, the problems with their one wording, the savings per rule, the notes,
and where the target came from. The renderings only lay it out, so they cannot disagree.
Pure: no rich, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from layerkit.report import human_bytes, plural

if TYPE_CHECKING:
    from layerkit.budget import SizeReport
    from layerkit.inspection import InspectResult
    from layerkit.verify import Violation

# fits: green, headroom left; tight: amber, under TIGHT_SHARE of the budget left;
# over: red, over the budget; failing: red, problems that stop the layer from working.
State = Literal["fits", "tight", "over", "failing"]
Origin = Literal["given", "manifest", "inferred"]
TIGHT_SHARE = 0.10
STATE_COLOUR: dict[State, str] = {
    "fits": "green",
    "tight": "yellow",
    "over": "red",
    "failing": "red",
}
ORIGIN_TEXT: dict[Origin, str] = {
    "given": "the command line",
    "manifest": "the manifest",
    "inferred": "the layer's files",
}


def budget_state(size: SizeReport, *, failing: bool = False) -> State:
    """Red when failing or over the budget, amber with under 10% of it left, else green."""
    if failing:
        return "failing"
    if size.over_budget:
        return "over"
    if size.headroom_bytes < TIGHT_SHARE * size.budget_bytes:
        return "tight"
    return "fits"


def percent_of_budget(part: int, budget: int) -> float:
    """`part` as a percentage of the budget, to one decimal (the `--json` figure)."""
    return round(100.0 * part / budget, 1) if budget > 0 else 0.0


def share_text(part: int, whole: int) -> str:
    """'64%', or '<1%' for a part too small to round up to a percent (but not nothing)."""
    if whole <= 0 or part <= 0:
        return "0%"
    share = part / whole
    return "<1%" if share < 0.005 else f"{share:.0%}"


def verdict_text(size: SizeReport, state: State, problems: int) -> str:
    """The one-line answer to "can I upload this?", the same in every rendering."""
    used = (
        f"{human_bytes(size.total_bytes)} of the {human_bytes(size.budget_bytes)} budget "
        f"({share_text(size.total_bytes, size.budget_bytes)})"
    )
    if size.over_budget:
        room = f"{human_bytes(-size.headroom_bytes)} over"
    else:
        room = f"{human_bytes(size.headroom_bytes)} left"
    if state == "failing":
        return f"fails: {plural(problems, 'problem')}; {used}, {room}"
    if state == "over":
        return f"over budget: {used}, {room}"
    if state == "tight":
        return f"fits, tightly: {used}, only {room}"
    return f"fits: {used}, {room}"


@dataclass(frozen=True)
class Problem:
    """A reason the layer would not run on its target, in the one wording every view uses."""

    path: str
    package: str | None
    rule: str
    needs: str  # what the file has or needs
    offers: str  # what the target offers
    fix: str
    summary: str  # one sentence: file, package, need against offer
    waived: bool
    severity: Literal["error", "warning"] = "error"  # a warning is shown, never fails


@dataclass(frozen=True)
class Saving:
    """What one slimming rule would save; `estimated` when it is a guess (strip)."""

    rule: str
    description: str
    files: int
    bytes: int
    estimated: bool = False


@dataclass(frozen=True)
class LayerReport:
    """A layer as `inspect` judges it."""

    name: str
    source: str
    kind: str
    runtime: str
    architecture: str
    python_origin: Origin
    architecture_origin: Origin
    packages_dir: str
    size: SizeReport
    zipped_bytes: int | None
    problems: tuple[Problem, ...]
    savings: tuple[Saving, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # slimming rules that would break something

    @property
    def found_savings(self) -> tuple[Saving, ...]:
        """The savings worth showing: rules that would remove something."""
        return tuple(s for s in self.savings if s.files)

    @property
    def blocking(self) -> tuple[Problem, ...]:
        """The problems that fail the layer: errors not waived."""
        return tuple(p for p in self.problems if not p.waived and p.severity == "error")

    @property
    def cautions(self) -> tuple[Problem, ...]:
        """Problems shown as warnings: they do not fail the layer."""
        return tuple(p for p in self.problems if not p.waived and p.severity == "warning")

    @property
    def state(self) -> State:
        return budget_state(self.size, failing=bool(self.blocking))

    @property
    def verdict(self) -> str:
        return verdict_text(self.size, self.state, len(self.blocking))

    @property
    def origin_text(self) -> str:
        """Where the target came from, part by part when the parts came from different places."""
        if self.python_origin == self.architecture_origin:
            return f"from {ORIGIN_TEXT[self.python_origin]}"
        return (
            f"python from {ORIGIN_TEXT[self.python_origin]}, "
            f"architecture from {ORIGIN_TEXT[self.architecture_origin]}"
        )


def problem_of(violation: Violation) -> Problem:
    """The report's form of a verification finding."""
    sentence = violation.describe().rsplit(f" -> {violation.hint}", 1)[0]
    return Problem(
        path=violation.path,
        package=violation.distribution,
        rule=violation.rule,
        needs=violation.found,
        offers=violation.expected,
        fix=violation.hint,
        summary=sentence,
        waived=violation.waived,
        # Violations gain a severity with the ELF checks' warnings; until then all are errors.
        severity="warning" if getattr(violation, "severity", "error") == "warning" else "error",
    )


def layer_report(
    result: InspectResult, *, python_given: bool = False, arch_given: bool = False
) -> LayerReport:
    """The report of an inspection; `*_given` say which parts of the target came from flags."""
    origin: Origin = result.target_origin

    def origin_of(given: bool) -> Origin:
        return "given" if given else origin

    savings = [
        Saving(rule.rule, rule.description, rule.files, rule.bytes) for rule in result.slim.rules
    ]
    if result.slim.strip:
        savings.append(
            Saving(
                "strip",
                "debug symbols stripped from shared objects (estimated)",
                len(result.slim.strip),
                result.slim.strip_estimate,
                estimated=True,
            )
        )
    return LayerReport(
        name=result.source.name,
        source=str(result.source),
        kind=result.kind,
        runtime=result.target.runtime,
        architecture=result.target.arch,
        python_origin=origin_of(python_given),
        architecture_origin=origin_of(arch_given),
        packages_dir=result.packages_dir,
        size=result.size,
        zipped_bytes=result.zipped_bytes,
        problems=tuple(problem_of(v) for v in result.violations),
        savings=tuple(savings),
        notes=(*result.notes, *result.slim.notes),
        warnings=result.slim.warnings,
    )
