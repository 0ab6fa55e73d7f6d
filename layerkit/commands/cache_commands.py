"""`layerkit cache info` / `cache prune`: what the build cache holds, and trimming it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from layerkit.commands.common import DryRunOption, JsonOption, Output, QuietOption, examples
from layerkit.report import human_bytes

if TYPE_CHECKING:
    from rich.console import Console

    from layerkit.cacheusage import CacheInfo, PruneResult

cache_app = typer.Typer(name="cache", help="Show and prune the build cache.", no_args_is_help=True)


@cache_app.command("info", epilog=examples("layerkit cache info", "layerkit cache info --json"))
def cache_info(json_output: JsonOption = False, quiet: QuietOption = False) -> None:
    """Where the build cache is and what each part of it holds."""
    from layerkit.cache import cache_dir
    from layerkit.cacheusage import cache_info as usage

    Output(json=json_output, quiet=quiet).emit(
        "cache-info", usage(cache_dir(os.environ)), render_info
    )


@cache_app.command(
    "prune",
    epilog=examples(
        "layerkit cache prune --dry-run",
        "layerkit cache prune --max-size 500MB",
        "layerkit cache prune --all --json",
    ),
)
def cache_prune(
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            metavar="SIZE",
            show_default="2GB",
            help="Keep builds, members and bytecode within this size, e.g. 500MB.",
        ),
    ] = None,
    remove_all: Annotated[
        bool, typer.Option("--all", help="Remove every build, member pack and .pyc.")
    ] = False,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Remove what was used least recently until the cache fits a size."""
    from layerkit.cache import cache_dir
    from layerkit.cacheusage import DEFAULT_PRUNE_BYTES, prune_cache
    from layerkit.config import parse_size
    from layerkit.errors import UsageError

    if remove_all and max_size is not None:
        raise UsageError("--all and --max-size exclude each other", hint="give one of them")
    limit = 0 if remove_all else parse_size(max_size) if max_size else DEFAULT_PRUNE_BYTES
    result = prune_cache(cache_dir(os.environ), max_bytes=limit, dry_run=dry_run)
    Output(json=json_output, quiet=quiet).emit("cache-prune", result, render_prune)


def render_info(console: Console, info: CacheInfo) -> None:
    """One line per part: entries, size, and its standing bound."""
    console.print(f"{info.cache_dir} ({human_bytes(info.total_bytes)})", markup=False)
    for part in info.parts:
        bound = f", kept under {human_bytes(part.limit_bytes)}" if part.limit_bytes else ""
        managed = f" (managed by {part.name})" if part.name in ("uv", "pip") else ""
        console.print(
            f"  {part.name:<12} {part.entries:>7} entries {human_bytes(part.bytes):>10}"
            f"{bound}{managed}",
            markup=False,
        )


def render_prune(console: Console, result: PruneResult) -> None:
    """What went (or would go), per part, and what is left."""
    verb = "would remove" if result.dry_run else "removed"
    for part in result.removed:
        if part.entries:
            console.print(
                f"{verb} {part.entries} {part.name} entries ({human_bytes(part.bytes)})",
                markup=False,
            )
    console.print(
        f"{human_bytes(result.before_bytes)} -> {human_bytes(result.after_bytes)} "
        f"(limit {human_bytes(result.max_bytes)}) in {result.cache_dir}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add `cache` to the app."""
    app.add_typer(cache_app)
