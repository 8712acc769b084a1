"""Response envelopes (A: Integration, B: Partner/Application), errors, and request parameter checks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from simulator import objectid

T = TypeVar("T")

SUCCESS = "success"


class ApiError(Exception):
    def __init__(self, status: int, message: str, detail: str | None = None, solution: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.solution = solution
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "error", "message": self.message}
        if self.detail is not None:
            out["detail"] = self.detail
        if self.solution is not None:
            out["solution"] = self.solution
        out["meta"] = {"statusCode": self.status, "status": "error"}
        return out


def bad_request(message: str, detail: str | None = None) -> ApiError:
    return ApiError(400, message, detail)


def not_found(message: str, detail: str | None = None) -> ApiError:
    return ApiError(404, message, detail)


def found(value: T | None, message: str, detail: str) -> T:
    """What a lookup found; a 404 with message and detail when it found nothing."""
    if value is None:
        raise not_found(message, detail)
    return value


def user_found(i: int | None, ident: Any) -> int:
    """The user a lookup by `ident` found; 404 `User not found` otherwise."""
    return found(i, "User not found", f"No user {ident}")


@dataclass
class Reply:
    """A handler's answer: the JSON body and, when it carries a page of records, that list."""
    body: dict[str, Any]
    records: list[dict[str, Any]] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def envelope_a(data: Any, message: str = "Success", records: list[dict[str, Any]] | None = None) -> Reply:
    return Reply({"status": SUCCESS, "message": message, "data": data}, records)


def envelope_b(data: Any, message: str = "Success", records: list[dict[str, Any]] | None = None,
               **paging: Any) -> Reply:
    return Reply({"meta": {"status": SUCCESS, "statusCode": 200, **paging}, "message": message, "data": data},
                 records)


def envelope_done(message: str) -> Reply:
    """An Integration answer that carries no data (send, reply, react: 8.4)."""
    return Reply({"status": SUCCESS, "message": message})


def int_param(value: Any, name: str, default: int, minimum: int = 1) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise bad_request(f"Invalid {name}", f"{name} must be an integer >= {minimum}")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise bad_request(f"Invalid {name}", f"{name} must be an integer >= {minimum}") from None
    if isinstance(value, float) and not value.is_integer():
        raise bad_request(f"Invalid {name}", f"{name} must be an integer >= {minimum}")
    if n < minimum:
        raise bad_request(f"Invalid {name}", f"{name} must be an integer >= {minimum}")
    return n


def page_limit(src: Any, default_limit: int = 20, max_limit: int = 100) -> tuple[int, int]:
    """(page, limit) with limit capped silently."""
    page = int_param(src.get("page"), "page", 1)
    limit = min(int_param(src.get("limit"), "limit", default_limit), max_limit)
    return page, limit


def total_pages(total: int, limit: int) -> int:
    return math.ceil(total / limit) if total else 0


def pagination(page: int, limit: int, total: int, found: int | None = None) -> dict[str, int]:
    return {"page": page, "limit": limit, "total": total, "total_pages": total_pages(found if found is not None else total, limit),
            "found": total if found is None else found}


def email_param(value: Any) -> str:
    if not isinstance(value, str) or "@" not in value:
        raise bad_request("Invalid email", "email must be an email address")
    return value


def check_object_id(value: Any, name: str) -> str:
    if not objectid.is_valid(value):
        raise bad_request(f"Invalid {name}", f"{name} must be a 24-character hex ObjectId")
    return value
