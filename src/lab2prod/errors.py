"""Errors a person can act on: each carries one line naming what is wrong and what to do."""


class Lab2ProdError(Exception):
    """A user-facing error; its message is one line, printed without a traceback."""


class SourceError(Lab2ProdError):
    """A source file or table cannot be read as declared."""


class ContractError(Lab2ProdError):
    """Data violates its contract in a way that stops the build."""


class MissingColumnError(ContractError):
    """A column the contract needs is not in the data's header."""


class ConfigError(Lab2ProdError):
    """A configuration value is missing or malformed."""


class RegistryError(Lab2ProdError):
    """The model registry does not hold what was asked for."""


class IngestError(Lab2ProdError):
    """An ingest broke one of its own invariants (rows lost): a bug to report, never bad input."""


class MonitoringError(Lab2ProdError):
    """A batch, its labels or the monitoring history cannot be used as given."""


class StorageError(Lab2ProdError):
    """A file cannot be written: the disk is full, a file-size limit, a permission."""
