"""Prequential study on UCI Arrhythmia (ODDS layout: 452 records, 274 features, 66 anomalies).

Seed ``s`` shuffles the record order with ``numpy.random.default_rng(s)`` (seed 0
is a shuffled order too, not the file order) and seeds every detector. The
first 256 records are the warm-up (196 are scored); streamae runs with all its
defaults (``n_clusters`` chosen from the warm-up).

    python -m benchmarks.arrhythmia            # 5 seeds, every detector
    python -m benchmarks.arrhythmia --quick    # 1 seed
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from benchmarks.prequential import StreamSpec, common_parser, main_study

WARMUP = 256


@functools.lru_cache(maxsize=1)
def _arrhythmia() -> tuple[np.ndarray, np.ndarray]:
    from streamae.datasets import fetch_arrhythmia

    return fetch_arrhythmia(download=False)


def shuffled(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The records in the order of ``default_rng(seed).permutation``."""
    order = np.random.default_rng(seed).permutation(len(X))
    return X[order], y[order]


def load(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return shuffled(*_arrhythmia(), seed)


def main(argv: list[str] | None = None) -> None:
    parser = common_parser(__doc__.splitlines()[0], default_seeds=5)
    args = parser.parse_args(argv)
    notes = ("Arrhythmia (ODDS): 452 records, 274 features, 66 anomalies (14.6 %). Seed s "
             "shuffles the record order with numpy.random.default_rng(s).permutation (seed 0 "
             f"is shuffled too) and seeds the detectors. Warm-up {WARMUP}; streamae with its "
             "defaults (n_clusters chosen from the warm-up).")
    main_study("arrhythmia", args, [StreamSpec("arrhythmia", load, WARMUP)], default_seeds=5,
               notes=notes)


if __name__ == "__main__":
    main(sys.argv[1:])
