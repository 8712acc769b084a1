"""A local stand-in for the Returning.AI API, written from the contract alone (docs/returning-api.md).

Imports nothing from the rest of the project.
"""
