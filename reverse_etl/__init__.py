"""Reverse ETL: push warehouse decisions back to Returning.AI, exactly once: as CSV bulk updates
(`bulk`) or one API call per row (`perrow`), two implementations of one push protocol (`protocol`).

Definitions live in `warehouse/reverse_etl/*.sql` (see `definitions`); `run_push` runs one. The
ledger: its tables in `schema`, its data in `ledger`, its states in `states`.
"""

from reverse_etl.definitions import Definition, get_definition, list_definitions
from reverse_etl.errors import DefinitionError
from reverse_etl.result import PushResult
from reverse_etl.runner import run_push

__all__ = ["Definition", "DefinitionError", "PushResult", "get_definition", "list_definitions", "run_push"]
