"""The Returning.AI client and dlt source (pipelines/README.md)."""

from pipelines.arrow_guard import keep_pandas_out

keep_pandas_out()
