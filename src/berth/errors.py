"""One exception hierarchy for Berth; the CLI and the API map it to exit codes and problem details."""

from __future__ import annotations


class BerthError(Exception):
    """Base class of every error Berth raises on purpose."""


class DataContractError(BerthError):
    """Input data breaks the data contract (missing file or column, too many bad rows, ...)."""

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None) -> None:
        self.file = file
        self.column = column
        where = ", ".join(part for part in (file and f"file {file}", column and f"column {column}") if part)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(BerthError):
    """A configuration file or setting is invalid."""


class InsufficientHistoryError(BerthError):
    """Not enough history to build features or labels for the requested cutoff and horizon."""


class ModelNotReadyError(BerthError):
    """No model is registered, loaded or promoted yet."""


class BundleIntegrityError(BerthError):
    """A model bundle failed its content hash or holds a forbidden artifact (a pickle)."""
