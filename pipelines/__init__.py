"""The Returning.AI client and dlt source (pipelines/README.md)."""
