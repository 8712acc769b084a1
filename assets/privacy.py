"""Members' privacy in Dagster: the `forget` job (a config form: the member's email or id, and a dry
run switch) and the analysts' share as an asset (`analytics_share/share`, after every model; with
several communities, partitioned by community as the models are).

Both run what the command line runs (`pipelines/forget.py`, `warehouse/share.py`) on the `warehouse`
resource's destination; the job's metadata holds counts per place and the erasure hash, never the
address (Dagster keeps run config, so the form's email stays in its run records: restrict who may
launch the job, or pass the member's id)."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    job,
    op,
)

from assets.models import model_key
from assets.partitions import CommunityPartitions, community_partitions
from assets.resources import (
    Warehouse,
    check_pool,
    community_settings,
    configured_destination,
    kinds,
    warehouse_pool,
)
from warehouse.location import DEFAULT_COMMUNITY
from warehouse.models import discover_models
from warehouse.share import SHARE_SCHEMA

SHARE_KEY = AssetKey([SHARE_SCHEMA, "share"])


class ForgetConfig(Config):
    """Who to erase: exactly one of `email` and `user_id`. `dry_run`: list what would change only."""

    email: str = ""
    user_id: str = ""
    dry_run: bool = False
    community: str = DEFAULT_COMMUNITY  # whose schemas (docs/communities.md: `forget --community`)


def _settings(warehouse: Warehouse, community: str = DEFAULT_COMMUNITY):  # noqa: ANN202 - pipelines.config.Settings
    from pipelines.config import Settings

    if community != DEFAULT_COMMUNITY:
        return community_settings(warehouse, community, key_required=False)
    location = warehouse.location()
    return Settings.from_env(key_required=False, destination=location.destination, warehouse=location.path)


def build_forget_job(destination: str | None = None):  # noqa: ANN201 - a JobDefinition
    """The `forget` job, its step in the warehouse's pool for `destination`."""
    destination = destination or configured_destination()

    @op(pool=warehouse_pool("returning_raw", destination))
    def forget_member(context: OpExecutionContext, config: ForgetConfig, warehouse: Warehouse) -> None:
        """Erase one member from every table and file the tool writes (see `returning-sync forget`)."""
        from pipelines.forget import forget

        check_pool(context, warehouse)
        report = forget(_settings(warehouse, config.community), email=config.email or None, user_id=config.user_id or None,
                        dry_run=config.dry_run)
        for line in report.lines():
            context.log.info(line)
        context.add_output_metadata({"member_hash": report.member_hash, "dry_run": config.dry_run,
                                     "changed": MetadataValue.json(report.counts())})

    @job(name="forget", description="Erase one member everywhere this tool writes (config: email or user_id)")
    def forget_job() -> None:
        forget_member()

    return forget_job


def build_share_asset(destination: str | None = None, parts: CommunityPartitions | None = None):  # noqa: ANN201 - an AssetsDefinition
    """The analysts' share, partitioned by community as the models are (`parts`, default: as
    configured now): a run builds its community's share (`returning-sync share --community`)."""
    destination = destination or configured_destination()
    parts = parts or community_partitions()

    @asset(key=SHARE_KEY, group_name="privacy", deps=[model_key(m.name) for m in discover_models()],
           kinds=kinds(destination, "sql"), pool=parts.writer_pool(SHARE_SCHEMA, destination),
           partitions_def=parts.whole,
           description="Schema analytics_share for analysts: the models less members' personal data "
                       "(servers: views and the read-only role returning_analyst; DuckDB: a second file); "
                       "with several communities, one per community (analytics_share__<slug>)")
    def share(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        from pipelines.privacy import Policy
        from warehouse.share import build_share

        check_pool(context, warehouse)
        policy = Policy.from_env()
        with warehouse.connection(community=parts.of_run(context)) as con:
            built = build_share(con, policy.share_hashed, policy.personal_fields,
                                password=policy.analyst_password or None)
        if built.file is not None:
            return MaterializeResult(metadata={"file": str(built.file), "tables": MetadataValue.json(built.tables)})
        return MaterializeResult(metadata={"views": MetadataValue.json(sorted(built.views)), "role": built.role})

    return share
