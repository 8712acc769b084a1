"""Reverse ETL: push warehouse decisions back to Returning.AI as CSV bulk updates, exactly once.

Definitions live in `warehouse/reverse_etl/*.sql` (see `definitions`); `run_push` runs one.
"""

from reverse_etl.definitions import Definition, get_definition, list_definitions
from reverse_etl.errors import DefinitionError
from reverse_etl.result import PushResult
from reverse_etl.runner import run_push

__all__ = ["Definition", "DefinitionError", "PushResult", "get_definition", "list_definitions", "run_push"]
