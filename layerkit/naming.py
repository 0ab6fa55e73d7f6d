"""Layer names: a documented function of the configuration and one zip's target, nothing else.

`layer-name` (config) or `--layer-name` is a template. Its fields are ``{name}`` (the build's
name), ``{python}`` (the runtime without its dot, e.g. ``python313``: layer names allow no dots)
and ``{arch}`` (``x86_64`` / ``arm64``). The default is ``{name}``, the name every single-target
project has always been published under, so no existing layer is silently replaced by a new
one. A template that gives two targets of one publish (or of the configuration) the same name
is refused before any AWS call: add ``{python}`` / ``{arch}`` to tell them apart.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from layerkit.config import DEFAULT_ARCH, DEFAULT_PYTHON, ProjectConfig, default_name
from layerkit.errors import UsageError
from layerkit.targets import Target, target_matrix

DEFAULT_LAYER_NAME = "{name}"
MATRIX_LAYER_NAME = "{name}-{python}-{arch}"
FIELDS = ("name", "python", "arch")


def _fields_of(template: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(
            f"layer name template {template!r} is malformed: {exc}",
            hint=f"use the fields {', '.join('{' + f + '}' for f in FIELDS)}",
        ) from exc
    return [field for _, field, _, _ in parsed if field is not None]


def layer_name_for(template: str | None, *, name: str, target: Target) -> str:
    """The layer name `template` gives the build `name` on `target`."""
    chosen = template or DEFAULT_LAYER_NAME
    for field in _fields_of(chosen):
        if field not in FIELDS:
            raise UsageError(
                f"unknown field {{{field}}} in layer name template {chosen!r}",
                hint=f"use {', '.join('{' + f + '}' for f in FIELDS)}",
            )
    return chosen.format(name=name, python=target.runtime.replace(".", ""), arch=target.arch)


def check_distinct(template: str | None, names: Iterable[tuple[str, Target]]) -> None:
    """Refuse a template that names two different targets (or builds) the same."""
    seen: dict[str, tuple[str, Target]] = {}
    for build_name, target in names:
        layer = layer_name_for(template, name=build_name, target=target)
        earlier = seen.setdefault(layer, (build_name, target))
        if earlier != (build_name, target):
            chosen = template or DEFAULT_LAYER_NAME
            raise UsageError(
                f"layer name {chosen!r} gives {earlier[1].slug} and {target.slug} the same "
                f"layer {layer!r}",
                hint=f'set layer-name = "{MATRIX_LAYER_NAME}" in [tool.layerkit.publish] '
                f"(or --layer-name '{MATRIX_LAYER_NAME}'): one layer per target",
            )


def configured_builds(config: ProjectConfig) -> list[tuple[str, Target]]:
    """The (build name, target) pairs a project's configuration file asks for (none without one)."""
    if config.source is None:
        return []
    name = config.build.get("name") or default_name(config)
    targets = target_matrix(
        config.build.get("python", (DEFAULT_PYTHON,)), config.build.get("arch", (DEFAULT_ARCH,))
    )
    return [(name, target) for target in targets]
