"""Installs stay reproducible: pyproject.toml's ranges are capped, constraints.txt pins every package
they name (the extras included) at a version the range admits, and this environment runs the pins."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, list[Requirement]]:
    """pyproject.toml's requirements: `dependencies` and each extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {"dependencies": [Requirement(r) for r in project["dependencies"]],
            **{extra: [Requirement(r) for r in reqs] for extra, reqs in project["optional-dependencies"].items()}}


def pins() -> dict[str, Version]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            out[canonical(name)] = Version(version.strip())
    return out


def test_every_range_is_capped_and_its_pin_is_inside_it() -> None:
    pinned = pins()
    for group, reqs in requirements().items():
        for req in reqs:
            assert any(s.operator == "<" for s in req.specifier), f"{group}: {req} has no upper bound"
            assert any(s.operator == ">=" for s in req.specifier), f"{group}: {req} has no lower bound"
            name = canonical(req.name)
            assert name in pinned, f"{group}: {req.name} is not pinned in constraints.txt (run ./dev.sh lock)"
            assert req.specifier.contains(pinned[name]), f"constraints.txt pins {name}=={pinned[name]}, outside {req}"


def test_dagster_and_its_libraries_are_pinned_to_one_release() -> None:
    """dagster 1.N.x ships with its libraries at 0.(N+16).x: the pins must be one release."""
    pinned = pins()
    core = pinned["dagster"]
    for name, version in pinned.items():
        if name.startswith("dagster-"):
            expected = (core.major, core.minor) if version.major == 1 else (0, core.minor + 16)
            assert ((version.major, version.minor), version.micro) == (expected, core.micro), (name, version)


def test_this_environment_runs_the_pinned_versions() -> None:
    """What the tests run on is what constraints.txt says (./dev.sh installs with it); pandas is the
    one extra the default environment leaves out."""
    pinned = pins()
    for group, reqs in requirements().items():
        if group == "pandas":
            continue
        for req in reqs:
            installed = Version(importlib.metadata.version(req.name))
            assert installed == pinned[canonical(req.name)], (
                f"{req.name} {installed} is installed, constraints.txt pins {pinned[canonical(req.name)]}: "
                "run ./dev.sh setup")
