"""The assets' partitions, and the community as a partition dimension: the one place that decides.

One community (the top-level settings, the community `default`, or none configured yet when the
definitions load): the partitions of before. The date-keyed raw tables are partitioned by day
(`2026-12-07`), everything else is not. Further communities configured
(`[sources.returning_ai.communities.<slug>]`, pipelines/communities.py): the community becomes a
static dimension, read from the configuration when the definitions load (`community_partitions`):
- `returning_raw_incremental`: community x day (`MultiPartitionsDefinition`, keys `acme|2026-12-07`);
- the snapshot asset, the SQL models, the analysts' share and the reverse-ETL pushes: the community
  alone (keys `acme`);
- the seeds (schema `seeds`, shared) stay unpartitioned.
The number of assets is the same for one community or fifty.

A run's community (`CommunityPartitions.of_run`) comes from its partition, as the tags Dagster gives
a partitioned run say (a single key, or a range within one community), checked against the tag
`returning/community` that every run of the schedules and sensors carries (a run that lacks it is
given it, so the runs page filters it); a run with neither is the default community's.

Pools: a pool belongs to an asset, the same for each of its partitions, so it cannot be one per
community. With the community dimension, on a server destination, the steps that write a
community's schemas take no pool (`writer_pool`): different communities overlap, and one community's
runs are kept one at a time by the run queue's limits on the community tags (deploy/dagster.yaml) and
its dlt load by its own sync lock. On DuckDB every step keeps the file's one pool.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import (
    DagsterRun,
    DailyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    RunRequest,
    StaticPartitionsDefinition,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from assets.automation import load_automation
from pipelines.errors import ConfigError
from warehouse.location import DEFAULT_COMMUNITY, WarehouseLocation

# the community a run works on: every scheduled and sensor run carries it; deploy/dagster.yaml lets
# one run per value run at a time
COMMUNITY_TAG = "returning/community"
COMMUNITY_DIMENSION = "community"
DAY_DIMENSION = "day"
# the tag Dagster gives a run of one community x day partition (the queue limits it like COMMUNITY_TAG)
COMMUNITY_PARTITION_TAG = f"{PARTITION_NAME_TAG}/{COMMUNITY_DIMENSION}"
# the tag Dagster gives every partitioned run, whoever launched it: a community-only partition's key
# is the community (`acme`), so the queue's per-value limit on it keeps the runs of the models sensor
# and of the UI one per community too, though Dagster launches them without COMMUNITY_TAG
PARTITION_TAG = PARTITION_NAME_TAG

days = DailyPartitionsDefinition(
    start_date=load_automation().partitions_start, end_offset=1, timezone="UTC", fmt="%Y-%m-%d"
)


@dataclass(frozen=True)
class CommunityPartitions:
    """The configured communities as the assets are partitioned by them."""

    slugs: tuple[str, ...] = ()  # as configured (pipelines.communities.names); () or ("default",): one

    @property
    def crossed(self) -> bool:
        """The community is a partition dimension (a community other than `default` is configured)."""
        return any(slug != DEFAULT_COMMUNITY for slug in self.slugs)

    @property
    def scheduled(self) -> tuple[str, ...]:
        """The communities a schedule or sensor asks runs for, in name order (`default` first)."""
        return self.slugs if self.crossed else (DEFAULT_COMMUNITY,)

    @property
    def by_day(self) -> PartitionsDefinition:
        """The date-keyed raw tables': the day, crossed with the community."""
        if not self.crossed:
            return days
        return MultiPartitionsDefinition({COMMUNITY_DIMENSION: StaticPartitionsDefinition(list(self.slugs)),
                                          DAY_DIMENSION: days})

    @property
    def whole(self) -> PartitionsDefinition | None:
        """What a community owns whole (snapshots, models, pushes): the community, or no partitions."""
        return StaticPartitionsDefinition(list(self.slugs)) if self.crossed else None

    def day_key(self, slug: str, day: str) -> str:
        """`day` of `slug` as a partition key of `by_day` (`acme|2026-12-07`, or `2026-12-07`)."""
        self._known(slug)
        return MultiPartitionKey({COMMUNITY_DIMENSION: slug, DAY_DIMENSION: day}) if self.crossed else day

    def whole_key(self, slug: str) -> str | None:
        """`slug` as a partition key of `whole` (None: not partitioned)."""
        self._known(slug)
        return slug if self.crossed else None

    def tags(self, slug: str) -> dict[str, str]:
        """The tags of a run for `slug`."""
        return {COMMUNITY_TAG: slug}

    def whole_requests(self, tick: dt.datetime) -> list[RunRequest]:
        """A tick's runs of an asset each community owns whole (snapshots, a push) with the community
        dimension: one per community, its partition the community, its run key the community and the tick."""
        return [RunRequest(run_key=f"{slug}-{tick:%Y-%m-%dT%H%M}", partition_key=self.whole_key(slug),
                           tags=self.tags(slug)) for slug in self.scheduled]

    def _known(self, slug: str) -> None:
        if slug not in self.scheduled:
            raise ConfigError(f"community {slug!r} is not a partition of these definitions "
                              f"(configured when they loaded: {', '.join(self.scheduled)})")

    def of_keys(self, keys: Iterable[str]) -> set[str]:
        """The communities of partition keys (single keys or a range's ends)."""
        if not self.crossed:
            return set()
        multi = self.by_day
        assert isinstance(multi, MultiPartitionsDefinition)
        return {multi.get_partition_key_from_str(k).keys_by_dimension[COMMUNITY_DIMENSION] if "|" in k else k
                for k in keys}

    def of_tags(self, tags: Mapping[str, str]) -> str:
        """The community of a run with `tags`: its partition's (one community, else ConfigError),
        which the community tag, when present, must name too; neither: `default`."""
        told = tags.get(COMMUNITY_TAG)
        keys = [tags[t] for t in (PARTITION_NAME_TAG, ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG)
                if t in tags]
        found = self.of_keys(keys)
        if len(found) > 1:
            raise ConfigError(f"this run's partitions span communities ({', '.join(sorted(found))}): a run loads "
                              "one community; launch the backfill per community (select one value of the "
                              f"{COMMUNITY_DIMENSION!r} dimension, or more days than communities)")
        partition = next(iter(found), None)
        if partition is not None and told is not None and told != partition:
            raise ConfigError(f"this run's partition is community {partition!r} but its tag {COMMUNITY_TAG} says "
                              f"{told!r}")
        slug = partition or told or DEFAULT_COMMUNITY
        if slug not in self.scheduled and slug != DEFAULT_COMMUNITY:
            # configured since the definitions loaded, or not at all: pipelines.communities says which
            from pipelines.communities import community

            community(slug, key_required=False)
        return slug

    def of_run(self, context: Any) -> str:
        """The community of the run `context` (an asset's, a check's or an op's) works on. A run
        without the community tag is given it (the runs page filters by it)."""
        run: DagsterRun = context.run
        slug = self.of_tags(run.tags)
        if run.tags.get(COMMUNITY_TAG) != slug:
            context.instance.add_run_tags(run.run_id, {COMMUNITY_TAG: slug})
        return slug

    def writer_pool(self, writes: str, destination: str) -> str | None:
        """The pool of a step writing `writes` in a community's schemas: `duckdb_warehouse` on DuckDB;
        on a server `writes` itself with one community, none with the community dimension (a pool
        holds every partition of an asset, so it would keep communities one after another)."""
        from assets.resources import warehouse_pool

        if self.crossed and not WarehouseLocation(destination=destination).embedded:
            return None
        return warehouse_pool(writes, destination)


def community_partitions(environ: Mapping[str, str] | None = None) -> CommunityPartitions:
    """The communities configured now (`pipelines.communities.names`: the top-level community when it
    has a key or an id, then each block; no key is needed)."""
    from pipelines.communities import names

    return CommunityPartitions(tuple(names(environ)))
