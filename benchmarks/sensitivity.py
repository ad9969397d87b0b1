"""Sensitivity of streamae to one configuration field, across the studies' streams.

A default has to serve streams we never see, so it is chosen on several kinds
of stream at once, never on one. This study runs only the ``streamae`` detector
(the same prequential protocol, warm-ups and per-study settings as the peer
comparisons) once per value of one :class:`~streamae.DetectorConfig` field, on:

- ``digits``: the digits protocol, 10 anomaly digits x 3 seeds;
- ``arrhythmia``: Arrhythmia, 5 shuffled orders;
- ``odds``: the seven short ODDS sets x 3 seeds;
- ``mnist``: the MNIST protocol, 10 anomaly digits, 6000-record subsamples, 1 seed.

It writes one table: mean ROC-AUC per study (± over seeds of the per-seed
average over streams) for each value.

    python -m benchmarks.sensitivity --param weight_decay --values 1e-3,1e-4
    python -m benchmarks.sensitivity --param epochs --values 150,50 --studies digits,arrhythmia
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.prequential import (RESULTS_DIR, StreamSpec, machine_info, run_study,
                                    set_threads, thread_info, write_results)

log = logging.getLogger("benchmarks")

STUDIES = ("digits", "arrhythmia", "odds", "mnist")
MNIST_MAX_RECORDS = 6000


def study_streams(study: str) -> tuple[list[StreamSpec], int]:
    """The streams and the number of seeds of one study, as the peer comparisons use them."""
    if study == "digits":
        from benchmarks import digits
        return digits.streams(list(range(10))), 3
    if study == "arrhythmia":
        from benchmarks import arrhythmia
        return [StreamSpec("arrhythmia", arrhythmia.load, arrhythmia.WARMUP)], 5
    if study == "odds":
        from benchmarks import odds
        return [StreamSpec(n, odds.loader(n, None, None), odds.WARMUP_SHORT)
                for n in odds.SHORT], 3
    if study == "mnist":
        from benchmarks import mnist
        return mnist.streams(list(range(10)), MNIST_MAX_RECORDS), 1
    raise ValueError(f"unknown study {study!r}; expected one of {STUDIES}")


def parse_value(text: str) -> Any:
    """``"1e-4"`` -> 0.0001, ``"150"`` -> 150, ``"none"`` -> None, else the string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def _with_override(spec: StreamSpec, param: str, value: Any) -> StreamSpec:
    kwargs = {**spec.peer_kwargs.get("streamae", {}), param: value}
    return StreamSpec(spec.name, spec.load, spec.warmup, {"streamae": kwargs})


def run_sensitivity(param: str, values: list[Any], studies: list[str],
                    jobs: int = 1) -> dict[str, Any]:
    """Run ``streamae`` once per value on every study; return the results document."""
    from streamae import DetectorConfig

    for value in values:  # fail before hours of work, with pydantic's message
        DetectorConfig(**{param: value})
    started = time.perf_counter()
    cells: dict[str, dict[str, Any]] = {}
    for study in studies:
        streams, n_seeds = study_streams(study)
        for value in values:
            doc = run_study(f"sensitivity-{study}",
                            [_with_override(s, param, value) for s in streams],
                            ["streamae"], list(range(n_seeds)), jobs=jobs)
            runs = doc["runs"]
            failed = [r for r in runs if r["status"] != "ok"]
            per_seed = []
            for seed in range(n_seeds):
                aucs = [r["roc_auc"] for r in runs
                        if r["seed"] == seed and r["status"] == "ok" and r["roc_auc"] is not None]
                if aucs:
                    per_seed.append(sum(aucs) / len(aucs))
            mean = sum(per_seed) / len(per_seed) if per_seed else None
            std = (sum((a - mean) ** 2 for a in per_seed) / (len(per_seed) - 1)) ** 0.5 \
                if len(per_seed) > 1 else None
            cells.setdefault(str(value), {})[study] = {
                "mean": mean, "std": std, "n_seeds": len(per_seed), "n_failed": len(failed),
                "errors": sorted({r.get("error", "") for r in failed}),
                "per_stream": doc["summary"]["streamae"]}
            log.info("%s=%s %s: %s", param, value, study, mean)
    return {
        "study": "sensitivity",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "threads": thread_info(),
        # Sensitivity studies choose defaults: they run on tuning seeds only.
        "settings": {"param": param, "values": values, "studies": studies,
                     "seed_role": "tuning",
                     "mnist_max_records": MNIST_MAX_RECORDS, "argv": sys.argv[1:]},
        "total_seconds": time.perf_counter() - started,
        "results": cells,
    }


def render(doc: dict[str, Any]) -> str:
    settings = doc["settings"]
    param, studies = settings["param"], settings["studies"]
    m = doc["machine"]
    lines = [f"# Sensitivity of streamae to `{param}`", "",
             f"Created {doc['created']} in {doc['total_seconds']:.0f} s. Machine: "
             f"{m.get('cpu_model', '?')}, {m.get('nproc', '?')} cores available, Python "
             f"{m.get('python', '?')}, torch {m.get('packages', {}).get('torch', '?')}, "
             f"git {m.get('git_commit', '?')}{' (dirty)' if m.get('git_dirty') else ''}.", "",
             "Detector `streamae` only, every other field at its default or at the study's "
             "setting (digits and MNIST: `n_clusters=9`). Mean ROC-AUC over the study's streams "
             "(± sample std over seeds of the per-seed mean). Streams: digits 10 x 3 seeds; "
             "arrhythmia 5 orders; odds the 7 short sets x 3 seeds; mnist 10 digits, "
             f"{settings['mnist_max_records']}-record subsamples, 1 seed. Best per column in bold.",
             "", f"| `{param}` | " + " | ".join(studies) + " |",
             "| --- | " + " | ".join("---:" for _ in studies) + " |"]
    best = {s: max((c[s]["mean"] for c in doc["results"].values()
                    if c[s]["mean"] is not None), default=None) for s in studies}
    for value, cell in doc["results"].items():
        row = []
        for s in studies:
            mean, std = cell[s]["mean"], cell[s]["std"]
            text = "failed" if mean is None else f"{mean:.3f}" + (
                f" ± {std:.3f}" if std is not None else "")
            if mean is not None and best[s] is not None and abs(mean - best[s]) < 5e-4:
                text = f"**{text}**"
            row.append(text)
        lines.append(f"| {value} | " + " | ".join(row) + " |")
    failures = [f"- `{param}={v}` on {s}: {c[s]['n_failed']} failed runs: {c[s]['errors']}"
                for v, c in doc["results"].items() for s in studies if c[s]["n_failed"]]
    if failures:
        lines += ["", "Failures:", *failures]
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    studies, values = doc["settings"]["studies"], list(doc["results"])
    width = 0.8 / max(len(values), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.6 * len(studies), 3.2))
    for i, value in enumerate(values):
        cell = doc["results"][value]
        means = [cell[s]["mean"] or 0.0 for s in studies]
        errs = [cell[s]["std"] or 0.0 for s in studies]
        ax.bar(np.arange(len(studies)) + i * width, means, width, yerr=errs,
               label=f"{doc['settings']['param']}={value}", capsize=2)
    ax.set_xticks(np.arange(len(studies)) + width * (len(values) - 1) / 2, studies)
    ax.set_ylabel("mean ROC-AUC")
    ax.set_ylim(0.4, 1.0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--param", required=True, help="a DetectorConfig field, e.g. weight_decay")
    parser.add_argument("--values", required=True,
                        help="comma-separated values; the first is usually the default")
    parser.add_argument("--studies", default=",".join(STUDIES),
                        help=f"comma-separated, some of {','.join(STUDIES)} (default: all)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="(stream, seed) pairs run at once in forked processes")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="output folder")
    parser.add_argument("--stem", default=None, help="file stem (default sensitivity_<param>)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    set_threads(1)
    studies = [s.strip() for s in args.studies.split(",") if s.strip()]
    unknown = sorted(set(studies) - set(STUDIES))
    if unknown:
        parser.error(f"unknown studies {unknown}; expected some of {list(STUDIES)}")
    values = [parse_value(v) for v in args.values.split(",")]
    doc = run_sensitivity(args.param, values, studies, jobs=max(1, args.jobs))
    paths = write_results(doc, args.out, args.stem or f"sensitivity_{args.param}",
                          render=render, plot=plot)
    print(render(doc))
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
