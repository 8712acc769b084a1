"""README.md, run as written: its quick start, its query and push examples and its example `.dlt` files,
on a fresh warehouse against the simulator. The commands are read from the README's fenced blocks,
never copied here, so a command, flag, key, table or setting the README shows that the code no longer
has fails this test."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from returning_sync.cli import COMMANDS, build_parser
from returning_sync.simulator_process import SimulatorProcess
from tests.conftest import simulator_process
from warehouse.duck import connect

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
USERS = 200  # a small community keeps the run short

# the README's sections whose commands are run, in order, in one working directory
RUN_SECTIONS = ("Quick start", "Querying the warehouse", "Pushing decisions back")
CONFIG_SECTION = "Configuration"
# commands that serve until stopped: the README's are parsed, never started (the test has its own)
SERVERS = frozenset({"simulator", "ui", "webhooks", "demo"})


@dataclass(frozen=True)
class Block:
    heading: str  # the text of the last heading above the block
    lang: str
    text: str


def readme_blocks() -> list[Block]:
    out: list[Block] = []
    heading, lang, lines, inside = "", "", [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if inside:
                out.append(Block(heading, lang, "\n".join(lines)))
            else:
                lang, lines = line[3:].strip(), []
            inside = not inside
        elif inside:
            lines.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    assert not inside, "README.md has an unclosed code block"
    return out


def section(title: str, lang: str) -> list[Block]:
    found = [b for b in readme_blocks() if b.heading.startswith(title) and b.lang == lang]
    assert found, f"README.md has no {lang} block under a heading starting {title!r}"
    return found


def command_lines(text: str) -> list[list[str]]:
    """The shell lines of a block, continuations joined, comments dropped, split as a shell would."""
    return [argv for line in text.replace("\\\n", " ").splitlines() if (argv := shlex.split(line, comments=True))]


def cli_argv(argv: list[str]) -> list[str] | None:
    """The arguments after `returning-sync` (or `.venv/bin/returning-sync`); None for other programs."""
    return argv[1:] if Path(argv[0]).name == "returning-sync" else None


def executable(program: str) -> str:
    """`.venv/bin/X` is the X installed beside this interpreter (the README's venv, or the test's)."""
    return str(Path(sys.executable).parent / Path(program).name) if program.startswith(".venv/bin/") else program


# -- every command the README shows exists, with the options it shows ------------------------------

def test_every_command_in_the_readme_parses() -> None:
    shown = [cli for block in readme_blocks() if block.lang == "bash"
             for argv in command_lines(block.text) if (cli := cli_argv(argv)) is not None]
    assert len(shown) >= 10
    for cli in shown:
        args = [a for a in cli if a != ">"][: cli.index(">")] if ">" in cli else cli
        try:
            build_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"README.md shows `returning-sync {shlex.join(cli)}`, which the command line refuses")


@pytest.mark.parametrize(("document", "heading"), [("README.md", "## Command line"),
                                                ("docs/interfaces.md", "## Command line (`returning-sync`)")])
def test_every_command_and_option_in_a_command_table_exists(document: str, heading: str) -> None:
    """The command tables of the README and docs/interfaces.md name every command, and only options it takes."""
    table = (ROOT / document).read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| .+ \|$", table, flags=re.MULTILINE)
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    named = set()
    for row in rows:
        for usage in re.findall(r"`returning-sync ([^`]+)`", row):
            name = usage.split()[0]
            assert name in COMMANDS, f"{document}'s command table names `returning-sync {name}`, which does not exist"
            named.add(name)
            known = {o for action in subparsers[name]._actions for o in action.option_strings}
            for option in re.findall(r"(--[a-z][a-z-]*)", usage):
                assert option in known, f"{document}'s command table shows `{name} {option}`, which it does not take"
    assert named == set(COMMANDS), f"commands missing from {document}'s table: {sorted(set(COMMANDS) - named)}"


# -- the quick start and the examples, run --------------------------------------------------------

@pytest.fixture(scope="module")
def readme_sim() -> Iterator[SimulatorProcess]:
    with simulator_process(USERS) as sim:
        yield sim


def clean_environment() -> dict[str, str]:
    """This process's environment without any setting of the project, dlt or a destination."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("RETURNING_", "SOURCES__", "DESTINATION__", "DLT_"))}


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """One README line as a shell would run it, `> file` included."""
    out_file = None
    if ">" in argv:
        at = argv.index(">")
        argv, out_file = argv[:at], cwd / argv[at + 1]
    done = subprocess.run([executable(argv[0]), *argv[1:]], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    if out_file is not None:
        out_file.write_text(done.stdout, encoding="utf-8")
    return done


def simulator_url(readme_argv: list[str]) -> str:
    """The URL the README's `returning-sync simulator ...` line listens on."""
    args = build_parser().parse_args(readme_argv)
    return f"http://{args.host}:{args.port}"


def seed_rows() -> dict[str, int]:
    """Data rows per shipped seed CSV (warehouse/seeds/)."""
    out = {}
    for path in sorted((ROOT / "warehouse" / "seeds").glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as f:
            out[path.stem] = sum(1 for _ in csv.reader(f)) - 1
    return out


def shipped_pushes() -> list[str]:
    return sorted(p.stem for p in (ROOT / "warehouse" / "reverse_etl").glob("*.sql"))


def check_sql_output(cli: list[str], stdout: str, out_file: Path | None, warehouse: Path) -> None:
    """What a README `sql` example printed is what the warehouse holds for its query."""
    args = build_parser().parse_args([a for a in cli if a != ">"][: cli.index(">")] if ">" in cli else cli)
    con = connect(warehouse, read_only=True)
    try:
        cursor = con.execute(args.query)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    assert rows, f"README.md's query returns no rows: {args.query}"
    if args.format == "csv":
        text = out_file.read_text(encoding="utf-8") if out_file is not None else stdout
        got = list(csv.reader(text.splitlines()))
        assert got[0] == names and len(got) == len(rows) + 1
    else:
        lines = stdout.splitlines()
        for name in names:
            assert name in lines[1]
        for row in rows:
            assert any(all(str(v) in line for v in row) for line in lines), (row, stdout)


def test_quick_start_and_examples_run_as_written(readme_sim: SimulatorProcess, tmp_path: Path) -> None:
    env = clean_environment()
    cwd = tmp_path / "project"  # the warehouse is the default one, warehouse/returning.duckdb, below it
    cwd.mkdir()
    warehouse = cwd / "warehouse" / "returning.duckdb"
    readme_url = None
    ran: list[str] = []
    for title in RUN_SECTIONS:
        for block in section(title, "bash"):
            for argv in command_lines(block.text):
                cli = cli_argv(argv)
                if argv[0] == "export":
                    name, _, value = argv[1].partition("=")
                    if name == "RETURNING_AI_BASE_URL":
                        assert value == readme_url, "the quick start's base URL is not where its simulator listens"
                        value = readme_sim.url  # the test's simulator, on a free port
                    env[name] = value
                    continue
                if cli is not None and cli[0] in SERVERS:
                    assert cli[0] == "simulator", f"README.md asks to run `{shlex.join(argv)}` in an example"
                    readme_url = simulator_url(cli)
                    continue
                done = run(argv, env, cwd)
                assert done.returncode == 0, f"`{shlex.join(argv)}` exited {done.returncode}: {done.stderr}"
                ran.append(shlex.join(cli) if cli else Path(argv[0]).name)
                if cli is None:
                    assert Path(argv[0]).name == "python" and "returning_raw" in done.stdout, shlex.join(argv)
                elif cli[0] == "sync" and "--resources" not in cli:
                    check_whole_sync(readme_sim, warehouse)
                elif cli[0] == "models":
                    check_models(warehouse)
                elif cli[0] == "sql":
                    check_sql_output(cli, done.stdout, cwd / cli[cli.index(">") + 1] if ">" in cli else None,
                                     warehouse)
                elif cli[:2] == ["push", "--list"]:
                    listed = [line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()]
                    assert listed == shipped_pushes()
    assert readme_url is not None, "the quick start does not start the simulator"
    assert {"sync", "models", "sql", "push", "python"} <= {r.split()[0] for r in ran}, ran

    # besides the README's examples, a dry run of every shipped definition works on the warehouse
    for name in [n for n in shipped_pushes() if f"push {n} --dry-run" not in ran]:
        done = run([".venv/bin/returning-sync", "push", name, "--dry-run"], env, cwd)
        assert done.returncode == 0, f"push {name} --dry-run exited {done.returncode}: {done.stderr}"
        assert "rows: total" in done.stdout, done.stdout


def check_whole_sync(sim: SimulatorProcess, warehouse: Path) -> None:
    """A whole sync loads every dataset to the simulator's truth, and the seeds."""
    truth = sim.admin_get("/__sim/truth")
    con = connect(warehouse, read_only=True)
    try:
        held = {t: con.execute(f'SELECT count(*) FROM returning_raw."{t}"').fetchone()[0] for t in truth}
        seeds = {t: con.execute(f'SELECT count(*) FROM seeds."{t}"').fetchone()[0]
                 for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = 'seeds' AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\'")
                 .fetchall()}
    finally:
        con.close()
    assert held == {t: v["count"] for t, v in truth.items()}
    assert seeds == seed_rows(), "the sync did not load the seeds (warehouse/seeds/)"


def check_models(warehouse: Path) -> None:
    con = connect(warehouse, read_only=True)
    try:
        built = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'analytics'").fetchall()}
    finally:
        con.close()
    assert built == {p.stem for p in (ROOT / "warehouse" / "models").glob("*.sql")}


# -- the example configuration files, written where dlt reads them ---------------------------------

# prints the settings a process started in the project folder resolves (argv: the names and overrides)
PROBE = """
import json, sys
from pipelines.config import Settings
names, overrides = json.loads(sys.argv[1])
s = Settings.from_env()
print(json.dumps({
    "settings": {k: str(getattr(s, k)) for k in names},
    "urls": [s.base_url(x) for x in ("integration", "partner", "application")],
    "endpoints": {n: {a: str(getattr(s.endpoint(n), a)) for a in o} for n, o in overrides.items()},
}))
"""


def test_example_config_files_configure_a_sync(readme_sim: SimulatorProcess, tmp_path: Path) -> None:
    files: dict[str, str] = {}
    for block in section(CONFIG_SECTION, "toml"):
        first = block.text.splitlines()[0]
        match = re.fullmatch(r"# \.dlt/(config|secrets)\.toml", first.strip())
        assert match, f"a TOML example of README.md's Configuration does not start with its file name: {first!r}"
        files[f"{match.group(1)}.toml"] = block.text
    assert set(files) == {"config.toml", "secrets.toml"}
    config = tomllib.loads(files["config.toml"])["sources"]["returning_ai"]
    secrets = tomllib.loads(files["secrets.toml"])["sources"]["returning_ai"]
    readme_url = config["base_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", readme_url), readme_url

    project = tmp_path / "project"
    (project / ".dlt").mkdir(parents=True)
    (project / ".dlt" / "config.toml").write_text(files["config.toml"].replace(readme_url, readme_sim.url),
                                                  encoding="utf-8")
    (project / ".dlt" / "secrets.toml").write_text(files["secrets.toml"], encoding="utf-8")
    env = clean_environment()

    # every setting of the example is read as the README says, none silently ignored
    overrides = config.pop("registry_overrides", {})
    names = sorted({*config, *secrets} - {"base_url"})
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([names, overrides])], env=env, cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    assert resolved["urls"] == [readme_sim.url] * 3
    assert resolved["settings"] == {k: str(float(v) if k == "rate_limit" else v)
                                    for k, v in {**config, **secrets}.items() if k != "base_url"}
    assert resolved["endpoints"] == {n: {a: str(v) for a, v in o.items()} for n, o in overrides.items()}

    # and a sync configured by them alone works; the datasets its settings and overrides touch are loaded
    # (a whole sync at the example's 20 requests/s would take most of a minute)
    selection = ["users", "user_fields", "gamification_daily", "store_config", "tiers", *sorted(
        {t for t, e in TABLE_ENDPOINTS.items() if e in overrides})]
    done = run([".venv/bin/returning-sync", "sync", "--resources", ",".join(dict.fromkeys(selection))], env, project)
    assert done.returncode == 0, done.stderr
    con = connect(project / "warehouse" / "returning.duckdb", read_only=True)
    try:
        for table in dict.fromkeys(selection):
            held = con.execute(f'SELECT count(*) FROM returning_raw."{table}"').fetchone()[0]
            assert held == expected_rows(readme_sim, table, config["history_days"]), table
    finally:
        con.close()


def expected_rows(sim: SimulatorProcess, table: str, history_days: int) -> int:
    """The truth's rows of `table`; of the daily history, those of the last `history_days` days and today."""
    if table != "gamification_daily":
        return int(sim.admin_get("/__sim/truth")[table]["count"])
    today = date.fromisoformat(sim.admin_get("/__sim/clock")["now"][:10])
    with urllib.request.urlopen(f"{sim.url}/__sim/truth/{table}", timeout=60) as answer:
        days = [datetime.strptime(json.loads(line)["date"], "%d/%m/%Y").date() for line in answer.read().splitlines()]
    return sum(1 for day in days if day >= today - timedelta(days=history_days))


def _table_endpoints() -> dict[str, str]:
    """warehouse table -> the endpoint it is read from (pipelines/tables.py)."""
    from pipelines.tables import TABLES

    return {t.name: e for t in TABLES for e in t.endpoints}


TABLE_ENDPOINTS = _table_endpoints()


# -- docs/simulator.md: the keys and community it tells users to use are the simulator's --------------

def test_the_simulator_doc_names_the_simulators_keys_and_community(readme_sim: SimulatorProcess) -> None:
    doc = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    keys_table = doc.split("### The keys", 1)[1].split("\"All\" is", 1)[0]
    documented = re.findall(r"^\| `([0-9a-f]{64})` \| (all[^|]*) \|$", keys_table, flags=re.MULTILINE)
    served = {k["key"]: k for k in readme_sim.admin_get("/__sim/keys")["keys"]}
    assert [key for key, _ in documented] == list(served)
    everything = re.search(r'"All" is: ([^.]+?) \(', doc).group(1)
    assert re.findall(r"`([A-Za-z-]+)`", everything) == served[documented[0][0]]["permissions"]
    for key, says in documented:
        assert says.startswith("all, expired") == served[key]["expired"], key
        missing = re.findall(r"all but `([A-Za-z-]+)`", says)
        assert set(served[documented[0][0]]["permissions"]) - set(served[key]["permissions"]) == set(missing), key

    exports = dict(argv[1].split("=", 1) for block in re.findall(r"```bash\n(.*?)```", doc, flags=re.DOTALL)
                   for argv in command_lines(block) if argv[0] == "export")
    assert exports["RETURNING_AI_BASE_URL"] == "http://127.0.0.1:8765"  # the simulator's default port
    env = {"RETURNING_AI_API_KEY": exports["RETURNING_AI_API_KEY"], "RETURNING_AI_BASE_URL": readme_sim.url,
           "RETURNING_AI_COMMUNITY_ID": exports["RETURNING_AI_COMMUNITY_ID"]}
    # user_fields' path carries the community id: only the simulator's own community answers 200
    done = subprocess.run([sys.executable, "-c", PROBE_COMMUNITY], env={**clean_environment(), **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "success"]


# reads the custom-field definitions of the configured community with the configured key
PROBE_COMMUNITY = """
import httpx
from pipelines.config import Settings
s = Settings.from_env()
path = s.endpoint("user_fields").path.format(communityId=s.community_id)
r = httpx.get(s.base_url("application") + path, headers={"Authorization": f"Bearer {s.api_key}"})
print(r.status_code, r.json().get("meta", {}).get("status"))
"""
