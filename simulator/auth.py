"""API keys and the permission each endpoint needs."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.envelopes import ApiError

ALL_PERMISSIONS = [
    "getUserData", "createUser", "manageUser", "userFields", "getUserStats", "bulkUpdateUser", "sendMessage",
    "replyMessage", "appearance", "store", "purchase-history", "redemptions", "analytics", "gamification",
    "getMessages",
]
FULL_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
READ_ONLY_KEY = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
EXPIRED_KEY = "00000000000000000000000000000000deadbeefdeadbeefdeadbeefdeadbeef"


@dataclass
class ApiKey:
    key: str
    permissions: list[str]
    expired: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "permissions": list(self.permissions), "expired": self.expired}


def default_keys() -> dict[str, ApiKey]:
    return {
        FULL_KEY: ApiKey(FULL_KEY, list(ALL_PERMISSIONS)),
        READ_ONLY_KEY: ApiKey(READ_ONLY_KEY, [p for p in ALL_PERMISSIONS if p != "bulkUpdateUser"]),
        EXPIRED_KEY: ApiKey(EXPIRED_KEY, list(ALL_PERMISSIONS), expired=True),
    }


def authenticate(keys: dict[str, ApiKey], header: str | None) -> ApiKey:
    """The key a request carries, or a 401."""
    if not header:
        raise ApiError(401, "Invalid API key", "Missing Authorization header",
                       "Send `Authorization: Bearer <community API key>`")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "Invalid API key", "Authorization header must be `Bearer <key>`",
                       "Send `Authorization: Bearer <community API key>`")
    key = keys.get(token)
    if key is None:
        raise ApiError(401, "Invalid API key", "The API key is unknown or has been revoked",
                       "Create a key under community settings > API keys")
    if key.expired:
        raise ApiError(401, "API key expired", "The API key has expired",
                       "Create a new key under community settings > API keys")
    return key


def authorize(key: ApiKey, permission: str) -> None:
    if permission not in key.permissions:
        raise ApiError(403, f"API key lacks permission: {permission}",
                       f"This endpoint requires the `{permission}` permission",
                       f"Grant `{permission}` to the key under community settings > API keys")
