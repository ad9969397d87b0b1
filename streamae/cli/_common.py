"""What every module of the command shares: its name, its error, status lines."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("streamae.cli")

PROG = "streamae"


class CLIError(Exception):
    """An error the command reports in one line and exits on.

    Parameters
    ----------
    message : str
        What was wrong, where, and what was expected.
    code : int, default=2
        Exit code.
    """

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# Shown as streamae.cli.CLIError in tracebacks: where users import it from.
CLIError.__module__ = "streamae.cli"


def say(message: str) -> None:
    """A status line the user needs even with --quiet (e.g. where metrics are served)."""
    from tqdm import tqdm

    tqdm.write(f"{PROG}: {message}", file=sys.stderr)
    sys.stderr.flush()
