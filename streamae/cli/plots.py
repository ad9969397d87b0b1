"""The ``--plot`` of ``streamae replay`` and ``streamae demo``: scores over the stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import CLIError

__all__ = ["check_plot_path", "write_plot"]


def check_plot_path(path: str | None) -> None:
    """Refuse a plot path whose folder does not exist, before the replay runs."""
    if path and not Path(path).parent.is_dir():
        raise CLIError(f"--plot {path!r}: folder {str(Path(path).parent)!r} does not exist")


def write_plot(path: str, replayed, summary: dict[str, Any], *, title: str,
               timestamps: bool) -> None:
    """Draw the scores, thresholds, flags, labels and retrains of a replay.

    Parameters
    ----------
    path : str
        A ``.png``, ``.svg`` or ``.pdf`` file.
    replayed : streamae.replay.ReplaySummary
        A replay run with ``keep=True``.
    summary : dict
        From :func:`streamae.cli.summary.build_summary`; its ROC-AUC goes in the title.
    title : str
    timestamps : bool
        Use the records' timestamps as the x axis.
    """
    from ..plotting import plot_scores

    auc = summary.get("roc_auc")
    plot_scores(path, replayed.scores, threshold=replayed.thresholds,
                is_anomaly=replayed.is_anomaly, ready=replayed.ready, valid=replayed.valid,
                labels=replayed.labels if "n_labelled_scored" in summary else None,
                timestamps=replayed.timestamps if timestamps else None,
                retrains=replayed.retrains,
                title=title + (f" — ROC-AUC {auc:.3f}" if auc is not None else ""))
