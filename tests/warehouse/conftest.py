"""tests/warehouse shares the one session materialization of tests/assets."""

from tests.assets.conftest import loaded  # noqa: F401
