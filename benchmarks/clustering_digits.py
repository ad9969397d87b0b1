"""Clustering accuracy on scikit-learn's 8x8 digits: l2-normalized AE vs its ablations.

The batch clustering of Aytekin et al. (``streamae.cluster.L2AEClustering``) on
the 1797 digits of ``sklearn.datasets.load_digits`` (pixels 0..16 divided by 16,
so in [0, 1]; no other scaling), k = 10, against

- ``l2ae-none``: the same autoencoder trained without the l2 normalization,
  k-means on its raw codes (the paper's "without l2" baseline);
- ``l2ae-after``: trained without it, codes normalized after training
  (the paper's Table III: does not give the benefit);
- ``kmeans-raw``: k-means on the pixels.

Every method uses k-means++ with 10 initialisations; a seed sets the network
initialisation, the mini-batch order and k-means. Accuracy is the paper's
Eq. 6 (``streamae.metrics.clustering_accuracy``, Hungarian matching); NMI and
ARI are reported too. Results: ``benchmarks/results/clustering_digits.{json,md,png}``.

    python -m benchmarks.clustering_digits                # 5 seeds, all methods
    python -m benchmarks.clustering_digits --sweep        # + the settings sweep
    python -m benchmarks.clustering_digits --quick        # 1 seed, 50 epochs
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("benchmarks.clustering_digits")

RESULTS_DIR = Path(__file__).resolve().parent / "results"
STEM = "clustering_digits"
METHODS = ("l2ae-l2", "l2ae-none", "l2ae-after", "kmeans-raw")
AE_NORMALIZE = {"l2ae-l2": "l2", "l2ae-none": "none", "l2ae-after": "after"}
# The settings of the main comparison, shared by the three autoencoder
# methods: the estimator's defaults with a narrower network (half the width,
# a third of the cost) and smaller batches (more steps on 1797 samples), the
# best of the sweep below for l2 (see the notes written with the results).
SETTINGS: dict[str, Any] = {"n_clusters": 10, "latent_dim": 10, "hidden": (128, 128, 512),
                            "epochs": 200, "batch_size": 64, "lr": 1e-3,
                            "weight_decay": 1e-4, "n_init": 10}
# The sweep: changes to SETTINGS, l2 vs none, 3 seeds each.
SWEEP = [
    {"hidden": (256, 256, 1024), "batch_size": 256},              # the estimator's defaults
    {"hidden": (256, 256, 1024), "batch_size": 256, "weight_decay": 0.0},
    {"batch_size": 256, "weight_decay": 0.0},
    {"weight_decay": 0.0},
    {"batch_size": 256},
    {"weight_decay": 1e-3},
]
SWEEP_SEEDS = 3


def load() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def run_one(method: str, X: np.ndarray, y: np.ndarray, seed: int,
            settings: dict[str, Any]) -> dict[str, Any]:
    """Fit one method with one seed; accuracy, NMI, ARI, seconds."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from streamae.cluster import L2AEClustering
    from streamae.metrics import clustering_accuracy

    start = time.perf_counter()
    record: dict[str, Any] = {"method": method, "seed": seed}
    if method == "kmeans-raw":
        model = KMeans(settings["n_clusters"], init="k-means++", n_init=settings["n_init"],
                       random_state=seed).fit(X)
        labels = model.labels_
    else:
        model = L2AEClustering(normalize=AE_NORMALIZE[method], seed=seed, threads=1,
                               **settings).fit(X)
        labels = model.labels_
        record["final_loss"] = model.loss_curve_[-1]
    record.update(
        accuracy=clustering_accuracy(y, labels),
        nmi=float(normalized_mutual_info_score(y, labels)),
        ari=float(adjusted_rand_score(y, labels)),
        seconds=time.perf_counter() - start,
    )
    log.info("%-11s seed %d  acc %.3f  nmi %.3f  %.1fs", method, seed, record["accuracy"],
             record["nmi"], record["seconds"])
    return record


def _stat(values: list[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            "n": int(arr.size), "values": [float(v) for v in arr]}


def summarize(runs: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    return {m: {k: _stat([r[k] for r in runs if r["method"] == m])
                for k in ("accuracy", "nmi", "ari", "seconds")}
            for m in methods if any(r["method"] == m for r in runs)}


def run_sweep(X, y, seeds: int) -> list[dict[str, Any]]:
    rows = []
    for change in SWEEP:
        settings = {**SETTINGS, **change}
        runs = [run_one(m, X, y, s, settings) for m in ("l2ae-l2", "l2ae-none")
                for s in range(seeds)]
        rows.append({"settings": change, "summary": summarize(runs, ["l2ae-l2", "l2ae-none"]),
                     "runs": runs})
    return rows


def _cell(stat: dict[str, Any]) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def render_markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    settings = doc["settings"]
    out = ["# Clustering accuracy on scikit-learn's 8x8 digits", "",
           f"1797 digits, pixels / 16, k = 10, {settings['seeds']} seeds "
           f"(0..{settings['seeds'] - 1}); mean ± sample std. Accuracy is Eq. 6 of "
           "Aytekin et al. (Hungarian matching).", "",
           "| method | accuracy | NMI | ARI | seconds per fit |", "| --- | --- | --- | --- | --- |"]
    for m in doc["methods"]:
        if m in s:
            out.append(f"| {m} | {_cell(s[m]['accuracy'])} | {_cell(s[m]['nmi'])} | "
                       f"{_cell(s[m]['ari'])} | {s[m]['seconds']['mean']:.1f} |")
    out += ["", "Accuracy per seed:", "",
            "| method | " + " | ".join(str(i) for i in range(settings["seeds"])) + " |",
            "| --- |" + " --- |" * settings["seeds"]]
    for m in doc["methods"]:
        if m in s:
            out.append(f"| {m} | " + " | ".join(f"{v:.3f}" for v in s[m]["accuracy"]["values"])
                       + " |")
    ae = {k: v for k, v in settings["autoencoder"].items()}
    out += ["", "Autoencoder settings (all three AE methods): "
            + ", ".join(f"`{k}={v}`" for k, v in ae.items()) + ".", ""]
    if doc.get("sweep"):
        out += ["## Settings sweep", "",
                f"`l2ae-l2` vs `l2ae-none`, {doc['settings']['sweep_seeds']} seeds, the "
                "settings above with these changes:", "",
                "| change | l2 accuracy | none accuracy | l2 - none |", "| --- | --- | --- | --- |"]
        for row in doc["sweep"]:
            l2 = row["summary"]["l2ae-l2"]["accuracy"]
            none = row["summary"]["l2ae-none"]["accuracy"]
            change = ", ".join(f"`{k}={v}`" for k, v in row["settings"].items())
            out.append(f"| {change} | {_cell(l2)} | {_cell(none)} | "
                       f"{l2['mean'] - none['mean']:+.3f} |")
        out.append("")
    if doc.get("notes"):
        out += ["## Notes", "", doc["notes"], ""]
    m = doc["machine"]
    out += ["## Machine", "",
            f"{m.get('cpu_model')}, {m.get('nproc')} cores available, torch threads 1, "
            f"Python {m.get('python')}, torch {m['packages'].get('torch')}, scikit-learn "
            f"{m['packages'].get('scikit-learn')}, commit {m.get('git_commit')}"
            f"{' (dirty)' if m.get('git_dirty') else ''}. Total wall time "
            f"{doc['wall_seconds'] / 60:.1f} min.", ""]
    return "\n".join(out)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = doc["summary"]
    methods = [m for m in doc["methods"] if m in s]
    means = [s[m]["accuracy"]["mean"] for m in methods]
    stds = [s[m]["accuracy"]["std"] for m in methods]
    colors = {"l2ae-l2": "tab:blue", "l2ae-none": "tab:orange", "l2ae-after": "tab:green",
              "kmeans-raw": "tab:gray"}
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    xs = np.arange(len(methods))
    ax.bar(xs, means, 0.6, yerr=stds, capsize=4, color=[colors.get(m, "tab:purple")
                                                        for m in methods])
    for x, m in zip(xs, methods):
        vals = s[m]["accuracy"]["values"]
        ax.scatter(np.full(len(vals), x) + np.linspace(-0.12, 0.12, len(vals)), vals,
                   s=12, color="black", zorder=3)
        ax.text(x, s[m]["accuracy"]["mean"] + s[m]["accuracy"]["std"] + 0.01,
                f"{s[m]['accuracy']['mean']:.3f}", ha="center", fontsize=9)
    ax.set_xticks(xs, methods)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("clustering accuracy (Eq. 6)")
    ax.set_title(f"sklearn digits, k=10: mean ± std over {doc['settings']['seeds']} seeds "
                 "(dots: seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(doc: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(doc, indent=1, default=str) + "\n")
    paths["md"].write_text(render_markdown(doc))
    plot(doc, paths["png"])
    return paths


NOTES = (
    "The l2-normalized codes cluster better than the un-normalized ones in every "
    "setting of the sweep (by 0.02 to 0.11 on average over 3 seeds), but better than "
    "k-means on the pixels (0.79) only with a little weight decay (1e-4): 0.81 with "
    "the estimator's defaults, 0.88 with the main settings (half the width, batch 64). "
    "Without weight decay, or with 1e-3, l2 stays at 0.76-0.79, on par with k-means "
    "on the pixels: the autoencoder reconstructs the 1797 digits almost perfectly and "
    "its codes keep the style along with the class. (Before this study the estimator's "
    "default weight decay was 0; one seed then gave l2 0.772, none 0.819, k-means "
    "0.792. Its default is now 1e-4.) Caveat: the main settings were picked from the "
    "sweep, run on seeds 0-2, which are also the first three seeds of the main table; "
    "seeds 3 and 4 were not seen while choosing. Seed 0 of l2 (0.794) only ties "
    "k-means; the other four are 0.88-0.91. Normalizing after training (l2ae-after) "
    "does no better than no normalization, as in the paper's Table III."
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default {SETTINGS['epochs']})")
    parser.add_argument("--quick", action="store_true", help="1 seed, 50 epochs, no sweep")
    parser.add_argument("--sweep", action="store_true",
                        help="also run the settings sweep (l2 vs none, 3 seeds per setting)")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="output folder")
    parser.add_argument("--stem", default=None, help=f"file stem (default {STEM}, "
                                                     "'_quick' appended in quick mode)")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite the .md and .png from the existing .json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from benchmarks.prequential import machine_info, set_threads

    set_threads(1)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    seeds = 1 if args.quick else args.seeds
    settings = dict(SETTINGS)
    if args.quick:
        settings["epochs"] = 50
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    stem = args.stem or (STEM + ("_quick" if args.quick else ""))
    if args.render:
        doc = json.loads((Path(args.out) / f"{stem}.json").read_text())
        doc["notes"] = NOTES
        write(doc, Path(args.out), stem)
        return
    X, y = load()
    start = time.perf_counter()
    runs = [run_one(m, X, y, seed, settings) for m in methods for seed in range(seeds)]
    doc: dict[str, Any] = {
        "study": STEM,
        "settings": {"dataset": "sklearn.datasets.load_digits, X / 16", "n_samples": len(y),
                     "seeds": seeds, "autoencoder": settings,
                     "kmeans": {"init": "k-means++", "n_init": settings["n_init"]},
                     "sweep_seeds": SWEEP_SEEDS},
        "methods": methods,
        "summary": summarize(runs, methods),
        "runs": runs,
    }
    if args.sweep and not args.quick:
        doc["sweep"] = run_sweep(X, y, SWEEP_SEEDS)
    doc["notes"] = NOTES
    doc["wall_seconds"] = time.perf_counter() - start
    doc["machine"] = machine_info()
    paths = write(doc, Path(args.out), stem)
    print(render_markdown(doc))
    print("written:", ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main(sys.argv[1:])
