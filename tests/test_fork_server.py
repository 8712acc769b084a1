"""The fan-out's fork server (returning_sync/fork_server.py): children forked from one process that
imported the command's modules once, each with its own output files and exit code."""

from __future__ import annotations

import os
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from returning_sync.fork_server import ForkServer, ForkServerError

# a command module of the test's own, importable by the server through PYTHONPATH: it records the
# process that imported it, so a child can tell that its modules came from the server
PROBE = textwrap.dedent("""
    import os, sys, time
    IMPORTED_IN = os.getpid()

    def add_arguments(parser):
        parser.add_argument("what")
        parser.add_argument("value", nargs="?", default="")

    def run(args):
        if args.what == "pid":
            print(f"imported-in={IMPORTED_IN} running-in={os.getpid()} parent={os.getppid()}")
            return 0
        if args.what == "exit":
            print("about to exit", args.value)
            print("on stderr", file=sys.stderr)
            return int(args.value)
        if args.what == "crash":
            raise ZeroDivisionError("boom")
        if args.what == "hard-exit":
            raise SystemExit(int(args.value))
        if args.what == "sleep":
            time.sleep(float(args.value))
            print("slept")
            return 0
        return 9
""")


@pytest.fixture
def probe_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    (tmp_path / "fork_probe.py").write_text(PROBE, encoding="utf-8")
    # the CLI dispatches to returning_sync.commands.<name>: the probe is registered as `sync`'s
    # stand-in through a tiny shim module that the server preloads
    shim = tmp_path / "fork_probe_shim.py"
    shim.write_text(textwrap.dedent("""
        import sys
        import fork_probe
        import returning_sync.cli as cli
        sys.modules["returning_sync.commands.probe"] = fork_probe
        cli.COMMANDS["probe"] = "test probe"
    """), encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}


def _run(server: ForkServer, tmp_path: Path, name: str, *argv: str) -> tuple[int, str, str]:
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    code = server.run(["probe", *argv], str(out), str(err))
    return code, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")


def test_children_are_forked_from_the_server_that_imported_their_modules(tmp_path: Path,
                                                                         probe_env: dict[str, str]) -> None:
    with ForkServer(["fork_probe_shim"], env=probe_env) as server:
        code, out, _ = _run(server, tmp_path, "a", "pid")
        code_b, out_b, _ = _run(server, tmp_path, "b", "pid")
        server_pid = server._proc.pid if server._proc else -1
    assert code == code_b == 0
    fields = [dict(kv.split("=") for kv in text.split()) for text in (out, out_b)]
    for f in fields:
        assert int(f["imported-in"]) == server_pid  # imported once, in the server
        assert int(f["parent"]) == server_pid
        assert f["running-in"] != f["imported-in"]  # run in a child of its own
    assert fields[0]["running-in"] != fields[1]["running-in"]


def test_each_child_has_its_own_exit_code_and_output(tmp_path: Path, probe_env: dict[str, str]) -> None:
    with ForkServer(["fork_probe_shim"], env=probe_env) as server:
        assert _run(server, tmp_path, "ok", "exit", "0") == (0, "about to exit 0\n", "on stderr\n")
        assert _run(server, tmp_path, "partial", "exit", "5") == (5, "about to exit 5\n", "on stderr\n")
        assert _run(server, tmp_path, "hard", "hard-exit", "3")[0] == 3
        code, out, err = _run(server, tmp_path, "crash", "crash")
        assert code == 1
        assert "unexpected ZeroDivisionError: boom" in err  # the CLI's own one-line error
        code, _, err = _run(server, tmp_path, "usage", "pid", "x", "--no-such-flag")
        assert code == 2 and "unrecognized arguments" in err


def test_children_run_side_by_side(tmp_path: Path, probe_env: dict[str, str]) -> None:
    import time

    with ForkServer(["fork_probe_shim"], env=probe_env) as server:
        _run(server, tmp_path, "warm", "exit", "0")
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: _run(server, tmp_path, f"s{i}", "sleep", "1"), range(4)))
        took = time.monotonic() - started
    assert [r[:2] for r in results] == [(0, "slept\n")] * 4
    assert took < 3.5, f"four 1-second children took {took:.1f} s: they ran one after another"


def test_a_server_that_cannot_import_fails_every_request_clearly(tmp_path: Path) -> None:
    with ForkServer(["no_such_module_for_the_fork_server"]) as server, pytest.raises(ForkServerError, match="ended"):
        server.run(["sync"], str(tmp_path / "o"), str(tmp_path / "e"))


def test_the_server_waits_for_its_children_and_leaves_none_behind(tmp_path: Path, probe_env: dict[str, str]) -> None:
    import psutil

    with ForkServer(["fork_probe_shim"], env=probe_env) as server:
        _run(server, tmp_path, "one", "exit", "0")
        proc = server._proc
        assert proc is not None
        server_pid = proc.pid
    assert proc.returncode == 0
    assert not psutil.pid_exists(server_pid) or psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("forks", [True, False], ids=["forked from the server", "fresh interpreters"])
def test_a_fan_out_gives_each_community_its_exit_code_and_error_either_way(monkeypatch: pytest.MonkeyPatch,
                                                                           forks: bool) -> None:
    """The fan-out's two ways of starting a community's process (forked on Linux, a fresh interpreter
    elsewhere) give the same outcome: each community's own exit code, output and error line."""
    from types import SimpleNamespace

    from returning_sync import communities_run
    from warehouse.location import WarehouseLocation

    fake = [SimpleNamespace(slug=slug, location=WarehouseLocation(destination="postgres")) for slug in ("default", "acme")]
    monkeypatch.setattr(communities_run, "communities", lambda key_required=True: fake)
    monkeypatch.setattr(communities_run, "FORKS", forks)
    outcomes = communities_run.fan_out("models", ["--select", "no_such_model"], 2, key_required=False)
    assert [(o.slug, o.exit_code, o.status) for o in outcomes] == [("default", 2, "failed"), ("acme", 2, "failed")]
    for o in outcomes:
        assert o.error.startswith("error: unknown model 'no_such_model'"), o.error
        assert o.error in o.output and o.figures == {}
