"""`returning-sync webhooks`: receive the platform's outgoing webhooks and land them durably."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from webhooks.server import add_arguments as webhook_arguments

    webhook_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from webhooks.server import run as webhook_run

    return webhook_run(args)
