"""Skip and report in Dagster: the `available` check of each raw table, yielded by the ingest step.

A dataset the run skipped (pipelines/skips.py: its endpoint answered 404 or 405, the key lacks its
permission, its answer lacks the expected shape, or it needs one that was skipped) is not
materialized in that run; its `available` check fails with warning severity and says why: the
endpoint, the status or the missing field, whether the endpoint is [doc] or [assumed], and the
setting that changes it. Run alone (the checks selected without their assets), the checks load
nothing: they probe the endpoints as `returning-sync check` does (pipelines/probe.py, a small read
each, never a write) and say the same. A dataset the settings disable (`disabled = [...]`) is not read and not
materialized either; its check passes and says so. A loaded dataset's check passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from dagster import AssetCheckKey, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from pipelines.skips import DISABLED_SETTING, Skip

AVAILABLE = "available"
DESCRIPTION = ("the API served the dataset in the last ingest run; a skipped dataset is not materialized, and this "
               "check names the endpoint, the status or missing field, [doc] or [assumed], and the setting to change")


def availability_specs(keys: Iterable[AssetKey]) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(AVAILABLE, asset=key, description=DESCRIPTION) for key in keys]


def skip_metadata(skip: Skip) -> dict[str, str]:
    """What the check shows of a skip (the same words as the command-line summary)."""
    out = {"dataset": skip.dataset, "reason": str(skip.kind), "result": skip.result, "fix": skip.fix,
           "summary": skip.line()}
    if skip.endpoint:
        out.update(endpoint=skip.endpoint, request=f"{skip.method} {skip.path}", mark=f"[{skip.mark}]")
    if skip.permission:
        out["permission"] = skip.permission
    if skip.depends_on:
        out["depends_on"] = skip.depends_on
    return out


def availability_results(selected: Iterable[AssetCheckKey], datasets: Mapping[AssetKey, str],
                         skips: Mapping[str, Skip], disabled: Iterable[str],
                         ok: str = "loaded") -> Iterator[AssetCheckResult]:
    """One result per selected `available` check of `datasets` (asset key -> dataset name); `ok`
    is what a passing one says (`loaded` by a run, `available` by a probe)."""
    off = set(disabled)
    for check in selected:
        if check.name != AVAILABLE or check.asset_key not in datasets:
            continue
        name = datasets[check.asset_key]
        skip = skips.get(name)
        if skip is not None:
            yield AssetCheckResult(asset_key=check.asset_key, check_name=AVAILABLE, passed=False,
                                   severity=AssetCheckSeverity.WARN, description=skip.line(),
                                   metadata=skip_metadata(skip))
        elif name in off:
            yield AssetCheckResult(asset_key=check.asset_key, check_name=AVAILABLE, passed=True,
                                   description=f"{name}: disabled in the settings ({DISABLED_SETTING}), not read",
                                   metadata={"dataset": name, "disabled": True})
        else:
            yield AssetCheckResult(asset_key=check.asset_key, check_name=AVAILABLE, passed=True,
                                   metadata={"dataset": name, "result": ok})
