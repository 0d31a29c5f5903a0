"""Every error skutag raises on purpose. Library code raises these; only the CLI turns them into exits."""

from __future__ import annotations


class SkutagError(Exception):
    """Base class of all skutag errors."""


class InputError(SkutagError):
    """Input data that cannot be used, located as precisely as we can: file, row and column."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        self.reason = message
        where = []
        if source is not None:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class EmptyInputError(InputError):
    """The input holds no usable rows."""


class MissingColumnError(InputError):
    """A column that was asked for (or is required) is not in the input."""


class UnsupportedFormatError(InputError):
    """The file format could not be recognised or is not supported."""


class ConfigError(SkutagError):
    """Inconsistent or invalid options."""


class TaxonomyError(SkutagError):
    """An invalid taxonomy, or a label/path that is not in it."""


class NotFittedError(SkutagError, ValueError):
    """A model was used before `fit` (or `load`)."""


class ModelLoadError(SkutagError):
    """A model directory that is missing, corrupted, truncated or not a skutag model."""


class WorkerError(SkutagError):
    """The inference worker failed the calls it held (died, hung or raised); the server answers them 503."""
