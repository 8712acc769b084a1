"""A push that cannot run as defined: a configuration error (exit 2) naming the definition and the fix."""

from __future__ import annotations

from returning_errors import ConfigError


class PushError(ConfigError):
    """A push definition cannot run: its file is malformed or the warehouse lacks what it reads."""


class DefinitionError(PushError):
    """A definition file is malformed, or no definition has the name asked for."""


class QueryError(PushError):
    """A definition's SQL failed on the warehouse, or a table its checks read is not loaded."""
