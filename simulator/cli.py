"""`python -m simulator` / `returning-sync simulator`: serve the simulated Returning.AI API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys

import uvicorn

from simulator import catalog
from simulator.auth import ALL_PERMISSIONS, ApiKey, default_keys
from simulator.knobs import Knobs
from simulator.surface import SURFACES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default 8765)")
    parser.add_argument("--users", type=int, default=5000, help="community size (default 5000)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated community (default 7)")
    parser.add_argument("--community-id", default=catalog.DEFAULT_COMMUNITY_ID,
                        help=f"the id the community is served under, 24 hex characters (default "
                             f"{catalog.DEFAULT_COMMUNITY_ID}); run several simulators with other seeds and ids "
                             "to stand for several communities")
    parser.add_argument("--latency-ms", type=float, default=0, help="added latency per request (0 = off)")
    parser.add_argument("--rate-limit", type=int, default=0, help="requests per key per second (0 = off)")
    parser.add_argument("--fault-rate", type=float, default=0, help="share of requests given a fault (0 = off)")
    parser.add_argument("--surface", choices=SURFACES, default="full",
                        help="what the API serves: full (default), documented (only what the contract marks [doc]) "
                             "or renamed (assumed names served under others); GET /__sim/surface lists them")


def describe_key(key: ApiKey) -> str:
    """What a key may do, in words: `all permissions`, `all permissions but bulkUpdateUser`, `expired`."""
    missing = [p for p in ALL_PERMISSIONS if p not in key.permissions]
    what = "all permissions" if not missing else (
        f"all permissions but {', '.join(missing)}" if len(missing) < len(ALL_PERMISSIONS) / 2
        else f"only {', '.join(key.permissions)}")
    return f"expired, refused with 401 ({what})" if key.expired else what


def startup_lines(surface: str) -> list[str]:
    """What the simulator prints after `simulator listening on ...`: community id, keys, surface."""
    lines = [f"community id: {catalog.COMMUNITY_ID}"]
    lines += [f"api key, {describe_key(k)}: {k.key}" for k in default_keys().values()]
    lines.append(f"surface: {surface} (GET /__sim/surface lists what it serves)")
    return lines


class _Ready(uvicorn.Server):
    """Prints its start-up lines once it accepts connections (the first is what callers wait for)."""

    def __init__(self, config: uvicorn.Config, lines: list[str]) -> None:
        super().__init__(config)
        self.lines = lines

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print("\n".join(self.lines), flush=True)


def run(args: argparse.Namespace) -> int:
    if args.users < 1:
        print("error: --users must be at least 1", file=sys.stderr)
        return 2
    if not 0 <= args.fault_rate <= 1 or args.rate_limit < 0 or args.latency_ms < 0:
        print("error: --fault-rate must be in [0, 1]; --rate-limit and --latency-ms >= 0", file=sys.stderr)
        return 2
    if not catalog.is_community_id(args.community_id):
        print(f"error: --community-id {args.community_id!r}: 24 lowercase hex characters, as "
              f"{catalog.DEFAULT_COMMUNITY_ID}", file=sys.stderr)
        return 2
    from simulator.app import build_app
    from simulator.state import Sim

    knobs = Knobs()
    knobs.update({"latency_ms": args.latency_ms, "rate_limit": args.rate_limit,
                  "faults": {"rate": args.fault_rate}, "surface": args.surface})
    sim = Sim(args.seed, args.users, knobs, community_id=args.community_id)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it (no 40 ms stalls)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        print(f"error: cannot bind {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    sock.listen(2048)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(sim), log_level="warning", access_log=False, lifespan="off")
    shown = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    server = _Ready(config, [f"simulator listening on http://{shown}:{port}", *startup_lines(args.surface)])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(sockets=[sock]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
