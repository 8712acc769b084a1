"""tests/warehouse builds its own warehouses (see test_models_truth.py); fixtures come from tests/conftest.py."""
