"""Seeds in Dagster: one asset per CSV seed (`seeds/<table>`, group `seeds`), loaded together by
`pipelines.seeds.load_seeds` into schema `seeds` of the configured warehouse. Push definitions that
join a seed list it upstream; no API call."""


from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset

from assets.resources import (
    ReturningApiSettings,
    Warehouse,
    check_pool,
    configured_destination,
    kinds,
    warehouse_pool,
)

SEEDS_GROUP = "seeds"


def seed_key(table: str) -> AssetKey:
    return AssetKey(["seeds", table])


def build_seed_assets(destination: str | None = None) -> list[Any]:
    from pipelines.seeds import seed_files

    destination = destination or configured_destination()
    files = seed_files()
    if not files:
        return []
    specs = [AssetSpec(seed_key(table), group_name=SEEDS_GROUP, kinds=kinds(destination, "csv"),
                       description=f"seeds.{table}: the rows of {path.name}", metadata={"file": str(path)})
             for table, path in sorted(files.items())]

    @multi_asset(specs=specs, name="seeds", pool=warehouse_pool("seeds", destination))
    def seeds(context: AssetExecutionContext, returning: ReturningApiSettings,
              warehouse: Warehouse) -> Iterator[MaterializeResult]:
        from pipelines.seeds import load_seeds
        from pipelines.sync import open_warehouse

        check_pool(context, warehouse)
        settings = returning.settings(warehouse)
        with open_warehouse(settings) as held:  # DuckDB: the file, held like a sync holds it
            rows = load_seeds(settings, connection=held)
        for table in sorted(rows):
            yield MaterializeResult(asset_key=seed_key(table), metadata={"rows": rows[table]})

    return [seeds]

