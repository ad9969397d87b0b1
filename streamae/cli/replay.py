"""``streamae replay FILE|-``, and the run that ``streamae demo`` shares with it.

:func:`run` builds the outputs the flags ask for (scores, metrics server),
replays the records with :func:`streamae.replay.replay`, then saves the
detector, draws the plot and prints the summary.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigMismatchError
from ..replay import Record, ReplayError as _ReplayError, ReplayRow, replay
from ._common import CLIError, logger, say
from .config import config_flags, config_from_sources, load_config_file
from .output import ScoreWriter
from .plots import check_plot_path, write_plot
from .sources import RecordSource
from .summary import build_summary, format_summary, json_default

__all__ = ["cmd_replay", "make_detector", "run"]

#: Bad rows reported one by one under ``--invalid skip``; the rest only counted.
REPORT_LIMIT = 20


def make_detector(args: argparse.Namespace, base: Mapping[str, Any] | None = None):
    """A detector from ``--load``, or from ``--config`` and the config flags over ``base``."""
    from ..detector import StreamDetector

    flags = config_flags(args)
    if getattr(args, "load", None):
        if flags or args.config:
            given = ", ".join(["--config"] * bool(args.config) +
                              ["--" + k.replace("_", "-") for k in flags])
            raise CLIError(f"--load uses the saved detector's configuration; drop {given}")
        path = Path(args.load)
        if not path.exists():
            raise CLIError(f"--load {args.load!r}: file does not exist")
        try:
            return StreamDetector.load(path, name=args.name)
        except (ImportError, NotImplementedError) as err:
            raise CLIError(f"--load: this version of streamae cannot load detectors: {err}")
        except (OSError, ValueError) as err:
            raise CLIError(f"--load {args.load!r}: {err}") from None
    file_values = load_config_file(args.config) if args.config else {}
    config = config_from_sources(file_values, flags, file_name=args.config, base=base)
    return StreamDetector(config, name=args.name)


def _split(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def cmd_replay(args: argparse.Namespace) -> int:
    """Run ``streamae replay``."""
    det = make_detector(args)
    features = _split(args.features) or None
    if features is None and det.feature_names is not None:
        features = list(det.feature_names)  # a loaded detector knows its columns
    source = RecordSource(args.input, args.format, features=features,
                          label_column=args.label_column,
                          timestamp_column=args.timestamp_column, delimiter=args.delimiter,
                          ignore_columns=_split(args.ignore_columns))
    try:
        logger.info("replaying %s (%s) with %d features: %s", args.input, source.format,
                    len(source.features), ", ".join(source.features[:8]) +
                    (" ..." if len(source.features) > 8 else ""))
        name = "<stdin>" if args.input == "-" else args.input
        return run(det, source, args, source=name, title=f"streamae replay: {name}",
                   labels=source.label_column is not None,
                   timestamps=source.timestamp_column is not None)
    finally:
        source.close()


class _Reporter:
    """Writes each result out and reports skipped records (the first few one by one)."""

    def __init__(self, det, writer: ScoreWriter | None):
        self._det, self._writer = det, writer
        self._reported = 0
        self._positional = det.feature_names is None and det.n_features is not None

    def records(self, records: Iterable[Record]) -> Iterable[Record]:
        """The records, as mappings or, for a detector of positional records, as lists."""
        for rec in records:
            if self._positional and isinstance(rec.values, Mapping) and rec.error is None:
                rec = Record(list(rec.values.values()), rec.label, rec.line, rec.timestamp)
            yield rec

    def __call__(self, row: ReplayRow) -> None:
        if self._writer is not None:
            self._writer.write_row(row)
        if row.result.valid:
            return
        where = f"line {row.record.line}" if row.record.line is not None \
            else f"record {row.index + 1}"
        error = row.record.error
        detail = f": {error}" if error is not None else ""
        if self._reported < REPORT_LIMIT:
            logger.warning("%s: skipped invalid record (%s)%s", where, row.result.reason, detail)
        elif self._reported == REPORT_LIMIT:
            logger.warning("more invalid records; the rest are only counted")
        self._reported += 1


def run(det, records: Iterable[Record], args: argparse.Namespace, *, source: str, title: str,
        total: int | None = None, plot_title: str | None = None, labels: bool = False,
        timestamps: bool = False) -> int:
    """Replay, then save, plot, print the summary and serve metrics as the flags ask.

    Returns the exit code (0, 1 when saving or plotting failed, 130 interrupted).
    """
    from ..monitoring import serve_metrics

    writer = server = None
    plot_path = getattr(args, "plot", None)
    check_plot_path(plot_path)
    to_stdout = args.output == "-"
    # With the scores on standard output, everything else goes to standard error.
    report = sys.stderr if to_stdout else sys.stdout
    try:
        if args.output:
            writer = ScoreWriter(args.output, args.output_format, label=labels,
                                 timestamp=timestamps)
        if args.metrics_port is not None:
            if det.registry is None:
                raise CLIError("--metrics-port needs a detector with metrics")
            try:
                server = serve_metrics(det, port=args.metrics_port, addr=args.metrics_addr)
            except OSError as err:
                raise CLIError(f"cannot serve metrics on {args.metrics_addr}:"
                               f"{args.metrics_port}: {err.strerror or err}") from None
            say(f"serving metrics at {server.url}")
        reporter = _Reporter(det, writer)
        try:
            replayed = replay(det, reporter.records(records), on_result=reporter,
                              progress=not args.quiet and sys.stderr.isatty(), total=total,
                              catch_interrupt=True)
        except _ReplayError as err:
            if isinstance(err.error, ConfigMismatchError):
                raise CLIError(f"{err.where}: the detector configuration does not fit the "
                               f"records: {err.error}") from None
            raise CLIError(str(err)) from None
        finally:
            if writer is not None:
                writer.close()
        summary = build_summary(det, replayed, source)
        if summary["warmup_advice"]:
            logger.warning("%s", summary["warmup_advice"])
        if args.output and not to_stdout:
            summary["output"] = str(args.output)
        code = 130 if replayed.interrupted else 0
        if getattr(args, "save", None) and not replayed.interrupted:
            try:
                det.save(args.save)
                summary["saved"] = str(args.save)
            except Exception as err:  # report, keep the summary and the other outputs
                logger.error("cannot save the detector to %r: %s", args.save, err)
                code = 1
        if plot_path:
            try:
                write_plot(plot_path, replayed, summary, title=plot_title or title,
                           timestamps=timestamps)
                summary["plot"] = str(plot_path)
            except Exception as err:
                logger.error("cannot write the plot %r: %s", plot_path, err)
                code = 1
        print(format_summary(summary, title), file=report, flush=True)
        if args.summary_json:
            try:
                Path(args.summary_json).write_text(
                    json.dumps(summary, indent=2, default=json_default) + "\n",
                    encoding="utf-8")
            except OSError as err:
                logger.error("cannot write --summary-json %r: %s", args.summary_json, err)
                code = 1
        if server is not None and args.metrics_linger and not replayed.interrupted:
            _linger(server, args.metrics_linger)
        return code
    finally:
        if server is not None:
            server.close()


def _linger(server, seconds: float) -> None:
    forever = math.isinf(seconds)
    deadline = time.monotonic() + seconds if not forever else math.inf
    try:  # Ctrl-C may come as soon as the line below is out
        say(f"replay finished; serving metrics at {server.url} "
            f"{'until interrupted' if forever else f'for {seconds:g} s more'} (Ctrl-C to stop)")
        while time.monotonic() < deadline:
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0.0)) if not forever else 0.5)
    except KeyboardInterrupt:
        pass
