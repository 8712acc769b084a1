"""`returning-sync simulator`: serve the simulated Returning.AI API until stopped."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simulator.cli import add_arguments as sim_arguments

    sim_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from simulator.cli import run as sim_run

    return sim_run(args)
