"""One exception hierarchy: every error raised on purpose is a ReturningError whose class carries the exit
code of docs/interfaces.md, and the base costs nothing to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.errors import (
    AmbiguousWriteError,
    ApiError,
    AuthError,
    ContractError,
    PermissionDenied,
    RetriesExhausted,
    SendFailed,
)
from returning_errors import Busy, ConfigError, ReturningError, SyncBusy, register_secret
from reverse_etl.errors import DefinitionError, PushError, QueryError
from warehouse.duck import WarehouseLocked
from warehouse.errors import (
    WarehouseConflict,
    WarehouseMissing,
    WarehouseQueryError,
    WarehouseUnreachable,
)
from warehouse.models import ModelError


@pytest.mark.parametrize(("error", "code"), [
    (ConfigError("x"), 2), (ModelError("x"), 2), (WarehouseMissing("w.duckdb"), 2), (DefinitionError("x"), 2),
    (QueryError("x"), 2), (WarehouseQueryError("x"), 2), (WarehouseConflict("x"), 2),
    (AuthError("users"), 3), (PermissionDenied("users", "getUsers"), 3),
    (ContractError("users", "no data"), 4), (ApiError("users", 404), 4), (RetriesExhausted("users", 3, "HTTP 503"), 4),
    (AmbiguousWriteError("bulk", "timeout"), 4), (SendFailed("bulk", "refused"), 4), (WarehouseUnreachable("x"), 4),
    (SyncBusy("x"), 6), (WarehouseLocked("x"), 6),
])
def test_each_error_is_a_returning_error_with_its_exit_code(error: ReturningError, code: int) -> None:
    assert isinstance(error, ReturningError) and error.exit_code == code


def test_callers_catch_by_meaning() -> None:
    assert issubclass(PushError, ConfigError) and issubclass(ModelError, ConfigError)
    assert issubclass(SyncBusy, Busy) and issubclass(WarehouseLocked, Busy)


def test_a_registered_secret_never_reaches_a_message() -> None:
    register_secret("canary-secret-1234")
    error = WarehouseQueryError("query failed: password canary-secret-1234 refused")
    assert "canary-secret-1234" not in str(error) and "***" in str(error)


def test_importing_the_base_imports_nothing_else() -> None:
    code = "import sys; before = set(sys.modules); import returning_errors; print(sorted(set(sys.modules) - before))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['returning_errors']"
