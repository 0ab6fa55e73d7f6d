"""Packages known to write beside themselves or under HOME at run time, and the fixing variable.

On Lambda a layer is extracted to ``/opt`` (read-only) and only ``/tmp`` is writable; HOME points
at a read-only place too. These packages keep a cache or data directory there by default: they
fail, warn on every cold start, or silently lose their cache. Each entry names the environment
variable that moves the directory under ``/tmp`` and the public page that documents it. Pure data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.utils import canonicalize_name

# Lambda's only writable directory: suggested to users in the notes, never written here.
LAMBDA_TMP = "/tmp"  # noqa: S108


@dataclass(frozen=True)
class RuntimeHint:
    """A distribution that writes at run time, the variable that moves the writes, a value."""

    distribution: str
    variable: str
    value: str
    writes: str  # what it writes, and where by default
    source: str  # the public page that documents the variable

    @property
    def note(self) -> str:
        return (
            f"{self.distribution} writes {self.writes}, read-only on Lambda: set "
            f"{self.variable}={self.value} in the function's environment"
        )


HINTS: tuple[RuntimeHint, ...] = (
    RuntimeHint(
        "matplotlib", "MPLCONFIGDIR", f"{LAMBDA_TMP}/matplotlib",
        "its config and font cache to ~/.config/matplotlib (else a new temporary directory and a "
        "warning on every cold start, rebuilding the font cache)",
        "https://matplotlib.org/stable/install/environment_variables_faq.html; the fallback and "
        "warning: lib/matplotlib/__init__.py, _get_config_or_cache_dir (github.com/matplotlib/"
        "matplotlib commit 6a5e007)",
    ),
    RuntimeHint(
        "numba", "NUMBA_CACHE_DIR", f"{LAMBDA_TMP}/numba_cache",
        "compiled functions (cache=True) to __pycache__ beside the module",
        "https://numba.readthedocs.io/en/stable/reference/envvars.html#envvar-NUMBA_CACHE_DIR",
    ),
    RuntimeHint(
        "huggingface-hub", "HF_HOME", f"{LAMBDA_TMP}/huggingface",
        "downloaded models, datasets and its token to ~/.cache/huggingface (transformers, "
        "datasets and sentence-transformers use it)",
        "https://huggingface.co/docs/huggingface_hub/package_reference/environment_variables#hfhome",
    ),
    RuntimeHint(
        "nltk", "NLTK_DATA", f"{LAMBDA_TMP}/nltk_data",
        "nltk.download() data to ~/nltk_data (or ship the data in the layer and point NLTK_DATA "
        "at it under /opt)",
        "https://www.nltk.org/data.html",
    ),
    RuntimeHint(
        "torch", "TORCH_HOME", f"{LAMBDA_TMP}/torch",
        "torch.hub models and weights to ~/.cache/torch",
        "https://pytorch.org/docs/stable/hub.html#where-are-my-downloaded-models-saved "
        "(ENV_TORCH_HOME in torch/hub.py)",
    ),
    RuntimeHint(
        "tldextract", "TLDEXTRACT_CACHE", f"{LAMBDA_TMP}/tldextract",
        "the public suffix list cache to ~/.cache/python-tldextract",
        "https://github.com/john-kurkowski/tldextract#note-about-caching",
    ),
)  # fmt: skip


def hints_for(distributions: Iterable[str]) -> tuple[RuntimeHint, ...]:
    """The hints for the distributions in a layer, in the table's order."""
    present = {canonicalize_name(name) for name in distributions}
    return tuple(h for h in HINTS if canonicalize_name(h.distribution) in present)


def notes_for(distributions: Iterable[str]) -> tuple[str, ...]:
    """One note per distribution of the layer known to write at run time."""
    return tuple(h.note for h in hints_for(distributions))


def unset_notes(hints: Iterable[RuntimeHint], environment: Mapping[str, str]) -> tuple[str, ...]:
    """The notes of `hints` whose variable the function's `environment` does not set."""
    return tuple(h.note for h in hints if not environment.get(h.variable))
