"""`returning-sync ui`: the simulator and Dagster's dev server (`dg dev`) together, until Ctrl-C.

The Dagster processes get the environment pointing at the simulator (unless RETURNING_AI_BASE_URL
is already set, then at that API) and DAGSTER_HOME under the project (`.dagster_home/`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from returning_errors import ConfigError, plural
from returning_sync.commands.demo import PROJECT_ROOT, say
from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY, SimulatorProcess
from warehouse.configuration import configured


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="where the Dagster UI listens (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.add_argument("--sim-port", type=int, default=0, help="simulator port (default: a free one)")
    parser.add_argument("--users", type=int, default=2000, help="simulated community size (default 2000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-simulator", action="store_true",
                        help="do not start the simulator; use RETURNING_AI_* from the environment")


def dagster_command(host: str, port: int) -> list[str]:
    """`dg dev` on the workspace file: Dagster's current CLI (`dagster dev` is superseded by it and
    warns so); given a workspace, it starts the webserver, daemon and code server directly."""
    exe = Path(sys.executable).with_name("dg")
    base = [str(exe)] if exe.exists() else [shutil.which("dg") or "dg"]
    return [*base, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", host, "-p", str(port)]


def ui_environment(sim_url: str | None) -> dict[str, str]:
    from assets.instance import ensure_dagster_home, project_instance

    env = dict(os.environ)
    if sim_url:
        env.update({"RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim_url,
                    "RETURNING_AI_COMMUNITY_ID": configured("community_id", ConfigError) or COMMUNITY_ID})
    if configured("warehouse", ConfigError) is None:  # as the settings resolve it, else the project's file
        env["RETURNING_WAREHOUSE"] = str(PROJECT_ROOT / "warehouse" / "returning.duckdb")
    env["DAGSTER_HOME"] = str(ensure_dagster_home(Path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else None))
    project_instance(Path(env["DAGSTER_HOME"])).dispose()  # storage created, warehouse pool set to one slot
    return env


@contextlib.contextmanager
def _maybe_simulator(args: argparse.Namespace) -> Iterator[str | None]:
    if args.no_simulator:
        yield None
        return
    with SimulatorProcess(users=args.users, seed=args.seed, port=args.sim_port, cwd=PROJECT_ROOT) as sim:
        yield sim.url


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # a plain `kill` stops both children too
    with _maybe_simulator(args) as sim_url:
        env = ui_environment(sim_url)
        if sim_url:
            say(f"simulator ({plural(args.users, 'user')}, seed {args.seed}) at {sim_url}")
        say(f"Dagster UI at http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']}); Ctrl-C stops both")
        say("  Lineage > Materialize all loads everything; Automation turns the schedules and the models "
            "sensor on (all off by default, see assets/automation.toml)")
        # own process group: on stop, `dg dev` and everything it spawned get the signal
        proc = subprocess.Popen(dagster_command(args.host, args.port), cwd=PROJECT_ROOT, env=env,
                                start_new_session=True)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """Ctrl-C for `dg dev` (it then stops its webserver, daemon and code server), then force."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # stragglers of the group
        os.killpg(proc.pid, signal.SIGTERM)
    return 0
