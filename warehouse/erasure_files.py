"""Erasing one member from the files this tool writes (`returning-sync forget`).

- dlt's working folder: completed load packages that mention the member are deleted whole (dlt never
  reads them again); pending ones are loaded first by the caller (`pipelines.repair.repair`), so their
  rows reach the tables and are erased there. dlt's last trace is deleted; any other text file (state,
  schemas) has the member replaced by the hash.
- push files (`out/` beside the warehouse) and other text files in the warehouse folder: the member
  replaced by the hash, case-insensitively.
- the webhook landing folder: lines of segments not yet loaded that mention the member are removed.
  A segment a live receiver is still writing is sealed first when its receiver is gone; one still
  held is reported (`held`) and left alone.
Files are rewritten atomically (a temporary file renamed over the old one). A dry run only counts.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DATABASE_SUFFIXES = (".duckdb", ".wal", ".lock")


@dataclass
class FileErasure:
    deleted: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    lines_removed: int = 0
    held: list[str] = field(default_factory=list)  # landing segments a live receiver holds

    def counts(self) -> dict[str, int]:
        return {"files_deleted": len(self.deleted), "files_rewritten": len(self.rewritten),
                "lines_removed": self.lines_removed, "segments_held": len(self.held)}


def _content(path: Path) -> tuple[bytes, bool]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data), True
        except OSError:
            return data, False
    return data, False


def pattern(needle: str) -> re.Pattern[bytes]:
    """The needle standing alone, case-insensitive (as `warehouse.erasure.pattern`)."""
    return re.compile(rb"(?<![A-Za-z0-9._%+-])" + re.escape(needle.encode()) + rb"(?![A-Za-z0-9])", re.IGNORECASE)


def _mentions(data: bytes, needles: Iterable[str]) -> bool:
    lower = data.lower()
    return any(n.lower().encode() in lower and pattern(n).search(data) for n in needles)


def _parquet_mentions(path: Path, needles: Iterable[str]) -> bool:
    import json

    import pyarrow.parquet as pq

    try:
        text = json.dumps(pq.read_table(path).to_pylist(), default=str).lower()
    except Exception:  # noqa: BLE001 - not a readable parquet file: fall back to its bytes
        return _mentions(path.read_bytes(), needles)
    return _mentions(text.encode(), needles)


def mentions(path: Path, needles: Iterable[str]) -> bool:
    if path.suffix == ".parquet":
        return _parquet_mentions(path, needles)
    return _mentions(_content(path)[0], needles)


def _replace(data: bytes, needles: Mapping[str, str]) -> bytes:
    for needle, replacement in sorted(needles.items(), key=lambda kv: len(kv[0]), reverse=True):
        data = pattern(needle).sub(replacement.encode(), data)
    return data


def _write(path: Path, data: bytes, gz: bool) -> None:
    tmp = path.with_name(path.name + ".erasing")
    tmp.write_bytes(gzip.compress(data) if gz else data)
    os.replace(tmp, path)


def scrub_folder(folder: Path, needles: Mapping[str, str], out: FileErasure, *, dry_run: bool,
                 skip: Iterable[Path] = ()) -> None:
    """Every file under `folder` (but `skip` and database files): the member replaced by the hash."""
    skipped = [p.resolve() for p in skip]
    if not folder.exists():
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        resolved = path.resolve()
        if path.suffix in DATABASE_SUFFIXES or any(resolved.is_relative_to(s) for s in skipped):
            continue
        data, gz = _content(path)
        if not _mentions(data, needles):
            continue
        out.rewritten.append(str(path))
        if not dry_run:
            _write(path, _replace(data, needles), gz)


def erase_dlt_folder(folder: Path, needles: Mapping[str, str], out: FileErasure, *, dry_run: bool) -> None:
    """dlt's working folder (see the module docstring)."""
    if not folder.exists():
        return
    # `<folder>/<pipelines dir>/<pipeline>/load/loaded/<load id>`: every pipeline's (every community's)
    for loaded in sorted(p for d in folder.rglob("loaded") if d.is_dir() and d.parent.name == "load"
                         for p in d.iterdir()):
        if loaded.is_dir() and any(mentions(p, needles) for p in loaded.rglob("*") if p.is_file()):
            out.deleted.append(str(loaded))
            if not dry_run:
                shutil.rmtree(loaded)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if not dry_run and not path.exists():
            continue
        if str(path).startswith(tuple(out.deleted)):
            continue
        if not mentions(path, needles):
            continue
        if path.suffix in (".pickle", ".parquet"):
            out.deleted.append(str(path))
            if not dry_run:
                path.unlink()
            continue
        data, gz = _content(path)
        out.rewritten.append(str(path))
        if not dry_run:
            _write(path, _replace(data, needles), gz)


def erase_landing(folder: Path, needles: Iterable[str], out: FileErasure, *, dry_run: bool) -> None:
    """Landed webhook segments not yet loaded: the lines that mention the member removed."""
    from webhooks import segments

    if not folder.exists():
        return
    if not dry_run:
        segments.seal_abandoned(folder)
    out.held.extend(str(p) for p in segments.live(folder) if mentions(p, needles))
    for path in segments.sealed(folder):
        lines = path.read_bytes().splitlines(keepends=True)
        kept = [line for line in lines if not _mentions(line, needles)]
        if len(kept) == len(lines):
            continue
        out.lines_removed += len(lines) - len(kept)
        out.rewritten.append(str(path))
        if not dry_run:
            if kept:
                _write(path, b"".join(kept), False)
            else:
                path.unlink()
