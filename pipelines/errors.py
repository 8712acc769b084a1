"""Exceptions a caller can catch by meaning. Each carries an `exit_code` (see shared/interfaces.md)
and a one-line message saying what to fix. Messages never contain the API key: every message
passes through `scrub` before it is stored."""

from __future__ import annotations

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret (the API key) so that no error message can ever carry it."""
    if value and len(value) >= 8:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


class ReturningError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        self.message = scrub(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigError(ReturningError):
    """Bad or missing configuration, bad command-line values."""

    exit_code = 2


class AuthError(ReturningError):
    """401: the key is missing, unknown, inactive or expired."""

    exit_code = 3

    def __init__(self, endpoint: str, server_message: str = "", permission: str | None = None) -> None:
        self.endpoint = endpoint
        self.permission = permission
        detail = f" (server said: {server_message})" if server_message else ""
        needs = f" (needs permission '{permission}')" if permission else ""
        super().__init__(
            f"authentication failed on {endpoint}{needs}: key invalid or expired (HTTP 401){detail}; "
            "check RETURNING_AI_API_KEY"
        )


class PermissionDenied(ReturningError):
    """403: the key is valid but lacks the endpoint's permission."""

    exit_code = 3

    def __init__(self, endpoint: str, permission: str, server_message: str = "") -> None:
        self.endpoint = endpoint
        self.permission = permission
        detail = f" (server said: {server_message})" if server_message else ""
        super().__init__(
            f"permission denied on {endpoint}: the API key lacks the '{permission}' permission "
            f"(HTTP 403){detail}; add it under community settings > API keys"
        )


class ContractError(ReturningError):
    """The API answered something the contract does not allow (missing or malformed field)."""

    exit_code = 4

    def __init__(self, endpoint: str, problem: str, page: int | str | None = None) -> None:
        self.endpoint = endpoint
        self.page = page
        self.problem = problem
        where = f" page {page}" if page is not None else ""
        super().__init__(f"contract violation on {endpoint}{where}: {problem}")


class ApiError(ReturningError):
    """A non-retryable HTTP error other than 401/403 (400, 404, 409, ...)."""

    exit_code = 4

    def __init__(self, endpoint: str, status: int, server_message: str = "") -> None:
        self.endpoint = endpoint
        self.status = status
        detail = f": {server_message}" if server_message else ""
        super().__init__(f"{endpoint} failed with HTTP {status}{detail}")


class RetriesExhausted(ReturningError):
    """The API kept failing (5xx, 429, timeouts, broken bodies) after every retry."""

    exit_code = 4

    def __init__(self, endpoint: str, attempts: int, last_problem: str) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.last_problem = last_problem
        super().__init__(f"{endpoint} kept failing after {attempts} attempts; last: {last_problem}")


class AmbiguousWriteError(ReturningError):
    """A write was sent but its outcome is unknown (timeout, connection lost, 5xx). Not retried:
    check the server side (e.g. the bulk-jobs list) before sending it again."""

    exit_code = 4

    def __init__(self, endpoint: str, problem: str) -> None:
        self.endpoint = endpoint
        super().__init__(
            f"{endpoint}: the request was sent but its outcome is unknown ({problem}); "
            "it was NOT retried — check the server before sending it again"
        )


class SendFailed(ReturningError):
    """A write could not be sent at all (no connection): nothing reached the server."""

    exit_code = 4

    def __init__(self, endpoint: str, problem: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: could not send the request ({problem}); nothing reached the server")


class SyncBusy(ReturningError):
    """Another sync is loading into the same warehouse directory."""

    exit_code = 1
