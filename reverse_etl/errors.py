"""A push that cannot run as defined: a configuration error (exit 2) naming the definition and the fix;
or an upload endpoint the API does not serve (exit 4, naming the registry override that moves it)."""

from __future__ import annotations

from pipelines.errors import ApiFailure
from returning_errors import ConfigError


class PushError(ConfigError):
    """A push definition cannot run: its file is malformed or the warehouse lacks what it reads."""


class DefinitionError(PushError):
    """A definition file is malformed, or no definition has the name asked for."""


class QueryError(PushError):
    """A definition's SQL failed on the warehouse, or a table its checks read is not loaded."""


class UploadUnserved(ApiFailure):
    """The upload endpoint answered 404/405 (the API does not serve it at that path): nothing was sent."""

    def __init__(self, endpoint: str, status: int, message: str) -> None:
        self.endpoint, self.status = endpoint, status
        super().__init__(message)
