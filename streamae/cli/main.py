"""The ``streamae`` command's parser, logging and entry point."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from ._common import PROG, CLIError
from .config import add_config_arguments
from .demo import DEMO_DIGIT, DEMO_PLOT, cmd_demo
from .replay import cmd_replay

__all__ = ["build_parser", "main"]


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a TCP port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port in 0..65535 (0 = any free "
                                         f"port), got {value}")
    return value


def _common_arguments() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    out = common.add_argument_group("outputs")
    out.add_argument("--output", "-o", metavar="PATH",
                     help="write one row per input record (row, line, score, is_anomaly, "
                          "threshold, ready, cluster, model_version, valid, reason, label, "
                          "timestamp) to a .csv or .jsonl file, or - for standard output "
                          "(the summary then goes to standard error)")
    out.add_argument("--output-format", choices=("csv", "jsonl"),
                     help="format of --output (default: from its extension; csv for -)")
    out.add_argument("--plot", metavar="PATH",
                     help="write a plot of the scores (threshold, flagged records, labels, "
                          "retrains) to a .png, .svg or .pdf file")
    out.add_argument("--summary-json", metavar="PATH",
                     help="also write the closing summary as JSON")
    out.add_argument("--save", metavar="PATH", help="save the detector after the replay")
    out.add_argument("--quiet", "-q", action="store_true",
                     help="no progress bar and no informational messages")
    out.add_argument("--verbose", "-v", action="store_true", help="debug messages")
    met = common.add_argument_group("metrics")
    met.add_argument("--metrics-port", type=_port, metavar="PORT",
                     help="serve Prometheus metrics at http://ADDR:PORT/metrics while the "
                          "replay runs (0 = a free port, logged at start)")
    met.add_argument("--metrics-addr", default="127.0.0.1", metavar="ADDR",
                     help="address of the metrics server (default: 127.0.0.1)")
    met.add_argument("--metrics-linger", type=_nonneg_float, default=0.0, metavar="SECONDS",
                     help="keep serving metrics this long after the replay ('inf' = until "
                          "Ctrl-C)")
    det = common.add_argument_group("detector")
    det.add_argument("--config", metavar="FILE",
                     help="detector settings from a TOML, JSON or YAML file (top level or a "
                          "'detector' table); flags override them")
    det.add_argument("--name", default="default",
                     help="the detector's name: the 'detector' label of its metrics")
    add_config_arguments(common)
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``streamae`` command (subcommands ``replay`` and ``demo``)."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="Online anomaly monitoring of numeric record streams.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_arguments()

    replay = sub.add_parser(
        "replay", parents=[common], help="replay a CSV or JSON-lines stream through a detector",
        description="Replay a CSV or JSON-lines stream (or standard input) through a "
                    "detector: score each record, then learn it.",
        epilog="Example: streamae replay sensors.csv --label-column label --timestamp-column "
               "time --warmup 500 --output scores.csv --plot scores.png")
    inp = replay.add_argument_group("input")
    inp.add_argument("input", metavar="FILE", help="a .csv/.tsv or .jsonl file (optionally "
                                                   ".gz), or - for standard input")
    inp.add_argument("--format", choices=("csv", "jsonl"),
                     help="input format (default: from the extension; for standard input, "
                          "jsonl if the first character is '{')")
    inp.add_argument("--features", metavar="A,B,...",
                     help="feature columns, in order (default: every numeric column other "
                          "than the label and timestamp columns)")
    inp.add_argument("--label-column", metavar="COLUMN",
                     help="column with the ground truth (1/0, true/false); enables ROC-AUC, "
                          "average precision and F1 in the summary")
    inp.add_argument("--timestamp-column", metavar="COLUMN",
                     help="column with the time of each record (numbers or ISO 8601), copied "
                          "to the output and used as the plot's x axis")
    inp.add_argument("--ignore-columns", metavar="A,B,...",
                     help="columns never used as features (e.g. a second label column)")
    inp.add_argument("--delimiter", metavar="CHAR",
                     help="CSV delimiter (default: guessed among ',' ';' tab '|')")
    inp.add_argument("--load", metavar="PATH",
                     help="continue a detector saved with --save (its configuration is kept)")
    replay.set_defaults(func=cmd_replay)

    demo = sub.add_parser(
        "demo", parents=[common], help="run a detector on a stream shipped with streamae",
        description="Replay a labelled stream that ships with streamae (no download) and "
                    f"print the summary; writes a plot ({DEMO_PLOT} in the working "
                    "directory unless --plot names another file; --plot '' for none).")
    demo.add_argument("--dataset", choices=("digits", "sensors"), default="digits",
                      help="digits: scikit-learn's 8x8 digits, one digit kept at 10 %% as the "
                           "anomaly (warmup 512, 9 clusters, contamination 0.02); sensors: a "
                           "synthetic multi-sensor stream with a drift (ADWIN retraining)")
    demo.add_argument("--anomaly-digit", type=int, choices=range(10), default=DEMO_DIGIT,
                      metavar="D", help=f"digit playing the anomaly (default: {DEMO_DIGIT})")
    demo.add_argument("--data-seed", type=int, default=0,
                      help="seed of the demo stream (default: 0)")
    # Not set_defaults(plot=...): the --plot action is shared with replay through the parent.
    demo.set_defaults(func=cmd_demo)
    return parser


class _LogHandler(logging.Handler):
    """Writes log lines above a running progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never break the run
            self.handleError(record)


class _Formatter(logging.Formatter):
    """``streamae: message`` (the logger name with ``verbose``), without doubling a prefix."""

    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        prefix = record.name if self.verbose else PROG
        if message.startswith(PROG + ":") and not self.verbose:
            return message
        return f"{prefix}: {message}"


@contextlib.contextmanager
def _cli_logging(quiet: bool, verbose: bool):
    """Send streamae's log records to stderr (above the progress bar) while a command runs."""
    package = logging.getLogger("streamae")
    handler = _LogHandler()
    handler.setFormatter(_Formatter(verbose))
    old_level, old_propagate = package.level, package.propagate
    package.addHandler(handler)
    package.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    package.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(old_level)
        package.propagate = old_propagate


def main(argv: list[str] | None = None) -> int:
    """Run the ``streamae`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 success, 1 failure after the replay, 2 bad usage,
        configuration, input or record, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    with _cli_logging(args.quiet, args.verbose):
        try:
            return args.func(args)
        except CLIError as err:
            print(f"{PROG} {args.command}: error: {err}", file=sys.stderr, flush=True)
            return err.code
        except KeyboardInterrupt:
            print(f"{PROG} {args.command}: interrupted", file=sys.stderr, flush=True)
            return 130
        except BrokenPipeError:  # e.g. piped into `head`
            with contextlib.suppress(Exception):
                sys.stdout = open(os.devnull, "w")
            return 1


