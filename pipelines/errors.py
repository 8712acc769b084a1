"""The API's errors, caught by meaning: the key refused (exit 3) or the API failing (exit 4). Each
names the endpoint and says what to fix; the base, the configuration error and the busy sync come
from `returning_errors` (every layer raises those) and are importable from here too."""

from __future__ import annotations

from returning_errors import ConfigError, ReturningError, SyncBusy, plural, register_secret, scrub


def _said(server_message: str) -> str:
    return f" (server said: {server_message})" if server_message else ""


class KeyRefused(ReturningError):
    """The API refused the key: unknown, expired (401) or lacking a permission (403)."""

    exit_code = 3


class AuthError(KeyRefused):
    """401: the key is missing, unknown, inactive or expired. `key_from`: where the key was set
    (`sources.returning_ai.api_key in /app/.dlt/secrets.toml`, `Settings.origins`), never the key."""

    def __init__(self, endpoint: str, server_message: str = "", permission: str | None = None,
                 key_from: str | None = None) -> None:
        self.endpoint, self.permission = endpoint, permission
        needs = f" (needs permission '{permission}')" if permission else ""
        super().__init__(f"authentication failed on {endpoint}{needs}: key invalid or expired (HTTP 401)"
                         f"{_said(server_message)}; check {key_from or 'the API key'}")


class PermissionDenied(KeyRefused):
    """403: the key is valid but lacks the endpoint's permission (`key_from`: as for AuthError)."""

    def __init__(self, endpoint: str, permission: str, server_message: str = "", key_from: str | None = None) -> None:
        self.endpoint, self.permission = endpoint, permission
        which = f" ({key_from})" if key_from else ""
        super().__init__(f"permission denied on {endpoint}: the API key{which} lacks the '{permission}' permission "
                         f"(HTTP 403){_said(server_message)}; add it under community settings > API keys")


class ApiFailure(ReturningError):
    """The API failed: an answer the contract does not allow, an error status, an outage, a lost write."""

    exit_code = 4


class ContractError(ApiFailure):
    """The API answered something the contract does not allow (missing or malformed field)."""

    def __init__(self, endpoint: str, problem: str, page: int | str | None = None, *, missing: str | None = None,
                 found: dict[str, str] | None = None) -> None:
        self.endpoint, self.page, self.problem = endpoint, page, problem
        self.missing = missing  # the field path the answer lacks, when that is the problem
        # what the answer held instead (`pagination.containers`): dotted path -> "list" or "object"
        self.found = found or {}
        where = f" page {page}" if page is not None else ""
        super().__init__(f"contract violation on {endpoint}{where}: {problem}")


class ApiError(ApiFailure):
    """A non-retryable HTTP error other than 401/403 (400, 404, 409, ...)."""

    def __init__(self, endpoint: str, status: int, server_message: str = "") -> None:
        self.endpoint, self.status, self.server_message = endpoint, status, server_message
        super().__init__(f"{endpoint} failed with HTTP {status}{f': {server_message}' if server_message else ''}")


class RetriesExhausted(ApiFailure):
    """The API kept failing (5xx, 429, timeouts, broken bodies) after every retry."""

    def __init__(self, endpoint: str, attempts: int, last_problem: str) -> None:
        self.endpoint, self.attempts, self.last_problem = endpoint, attempts, last_problem
        super().__init__(f"{endpoint} kept failing after {plural(attempts, 'attempt')}; last: {last_problem}")


class AmbiguousWriteError(ApiFailure):
    """A write was sent but its outcome is unknown (timeout, connection lost, 5xx). Not retried:
    check the server side (e.g. the bulk-jobs list) before sending it again."""

    def __init__(self, endpoint: str, problem: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: the request was sent but its outcome is unknown ({problem}); "
                         "it was NOT retried — check the server before sending it again")


class SendFailed(ApiFailure):
    """A write could not be sent at all (no connection): nothing reached the server."""

    def __init__(self, endpoint: str, problem: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: could not send the request ({problem}); nothing reached the server")


__all__ = ["AmbiguousWriteError", "ApiError", "ApiFailure", "AuthError", "ConfigError", "ContractError",
           "KeyRefused", "PermissionDenied", "RetriesExhausted", "ReturningError", "SendFailed", "SyncBusy",
           "plural", "register_secret", "scrub"]
