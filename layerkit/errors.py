"""The one error hierarchy of layerkit.

Every error a user can cause or meet carries a message (what went wrong, where) and a hint (what to
try). Each class has one documented exit code; the CLI maps them in a single place. This module
imports nothing of ours so every other module may use it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """Process exit codes; documented in the README's table (kept in sync by a test)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    BUDGET = 3
    INSTALL = 4
    VERIFY = 5
    AWS = 6
    RELEASE_ABORTED = 7
    FILESYSTEM = 8
    INTERRUPTED = 130


class LayerkitError(Exception):
    """Base class: a failure layerkit understands and can explain."""

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by its state, not by calling __init__ again (a subclass's may take other
        # arguments): a target built in a child process sends its failure back pickled.
        return (_restored, (type(self), self.args, self.__dict__))


def _restored(kind: type[LayerkitError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = kind.__new__(kind, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class UsageError(LayerkitError):
    """Bad command-line input: an unknown option value, a missing file, an invalid name."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """`[tool.layerkit]` / `layerkit.toml` is malformed, has unknown keys or wrong types."""


class TargetError(UsageError):
    """An unknown Lambda runtime or architecture."""


class RequirementsError(UsageError):
    """A requirements file or specifier cannot be parsed."""


class InputFileError(UsageError):
    """A file given to layerkit cannot be read or is not what it claims (e.g. not a zip)."""


class LockFileError(InputFileError):
    """A lock file cannot be read, or locks a package from a source layerkit cannot pin."""


class InstallerError(LayerkitError):
    """The installer (uv or pip) or the wheel builder failed."""

    exit_code = ExitCode.INSTALL

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        command: tuple[str, ...] = (),
        returncode: int | None = None,
        output_tail: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = command
        self.returncode = returncode
        self.output_tail = output_tail


class CompatibilityError(InstallerError):
    """A requirement has no wheel that runs on the target (sdist only, wrong glibc, wrong ABI)."""


class ResolutionError(InstallerError):
    """The requirements cannot be resolved: unknown package, impossible pin, hash mismatch."""


class BudgetExceededError(LayerkitError):
    """The unzipped layer is larger than the size budget."""

    exit_code = ExitCode.BUDGET


class VerificationError(LayerkitError):
    """Something in the layer would not run on the target (ELF arch, glibc, ABI, layout)."""

    exit_code = ExitCode.VERIFY


class FilesystemError(LayerkitError):
    """Writing an output failed: directory not writable, disk full."""

    exit_code = ExitCode.FILESYSTEM


class AwsError(LayerkitError):
    """An AWS call failed or a Lambda rule would be broken by it."""

    exit_code = ExitCode.AWS

    def __init__(self, message: str, *, hint: str | None = None, code: str = "") -> None:
        super().__init__(message, hint=hint)
        self.code = code  # the AWS error code, '' when the failure did not come from AWS


class LambdaRuleError(AwsError):
    """layerkit refused a call because it would break one of Lambda's documented rules."""


class ReleaseAbortedError(LayerkitError):
    """A traffic shift stopped (alarm, failure, interrupt) and the alias was restored."""

    exit_code = ExitCode.RELEASE_ABORTED
