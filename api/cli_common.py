"""What every ``utm6g`` sub-command shares: the one-line error type and the common arguments.

Layer: api.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["CommandError", "add_log_argument", "add_set_argument"]


class CommandError(Exception):
    """A command-line mistake, reported as one line."""


def add_set_argument(parser: argparse.ArgumentParser, example: str = "cdr.lookahead_s=45") -> None:
    """``--set KEY=VALUE`` (repeatable): a scenario override."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override any scenario key, e.g. --set {example} (repeatable)",
    )


def add_log_argument(parser: argparse.ArgumentParser) -> None:
    """The positional LOG: a run folder or its ``log/`` folder."""
    parser.add_argument("log", type=Path, help="the run folder or its log/ folder")
