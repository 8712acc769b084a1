"""Models: one asset `analytics/<name>` per `warehouse/models/*.sql`, group `models`.

Dependencies come from the SQL (sqlglot, see warehouse.models): raw tables map to
`returning_raw/<table>`, other models to `analytics/<model>`. Each model rebuilds eagerly once its
inputs load (any input updated, none still running), when the `models_after_inputs` sensor is on.
Each SELECT is written in DuckDB's dialect and built on the configured destination through the
warehouse port (warehouse.models: transpiled, materialized atomically).
"""


from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from assets.partitions import CommunityPartitions, community_partitions
from assets.resources import Warehouse, check_pool, configured_destination, kinds
from returning_errors import plural
from warehouse.location import MODELS_SCHEMA, RAW_SCHEMA
from warehouse.models import Model, build_model, discover_models

MODELS_GROUP = "models"

# Like `eager()`, without its "no dependency partition missing" guard: the raw tables are partitioned
# by day since `partitions_start`, and most of those days are never loaded one by one.
AFTER_INPUTS = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after its inputs load")


def model_key(name: str) -> AssetKey:
    return AssetKey([MODELS_SCHEMA, name])


def _model_asset(model: Model, destination: str, parts: CommunityPartitions) -> AssetsDefinition:
    raw_tables = dict.fromkeys(t.split("__")[0] for t in model.raw_deps)  # dlt child table -> its parent
    deps = [AssetKey([RAW_SCHEMA, t]) for t in raw_tables] + [model_key(m) for m in model.model_deps]

    @asset(
        key=model_key(model.name),
        group_name=MODELS_GROUP,
        deps=deps,
        description=model.description or f"SQL model {model.path.name}",
        kinds=kinds(destination, "sql"),
        pool=parts.writer_pool(f"{MODELS_SCHEMA}.{model.name}", destination),
        partitions_def=parts.whole,
        automation_condition=AFTER_INPUTS,
        metadata={"sql_file": f"warehouse/models/{model.path.name}", "sql": MetadataValue.md(f"```sql\n{model.sql}\n```")},
    )
    def _build(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        check_pool(context, warehouse)
        community = parts.of_run(context)
        with warehouse.connection(community=community) as con:
            result = build_model(con, model)
            table = f"{con.location.schema(MODELS_SCHEMA)}.{model.name}"
        context.log.info(f"{table}: {plural(result.rows, 'row')} in {result.seconds:.2f}s")
        return MaterializeResult(metadata={
            "dagster/row_count": result.rows,
            "dagster/column_schema": TableSchema(columns=[TableColumn(n, t) for n, t in result.columns]),
            "dagster/table_name": table,
            "seconds": result.seconds,
        })

    return _build


def build_model_assets(models_dir: Path | None = None, destination: str | None = None,
                       parts: CommunityPartitions | None = None) -> list[AssetsDefinition]:
    """One asset per model (`models_dir` None: the shipped folder and RETURNING_MODELS_DIR), with kinds
    and pool for `destination` (default: the configured one), partitioned by community when more than
    one is configured (`parts`, default: as configured now; assets/partitions.py)."""
    destination = destination or configured_destination()
    parts = parts or community_partitions()
    models = discover_models() if models_dir is None else discover_models(models_dir)
    return [_model_asset(m, destination, parts) for m in models]

