"""Render the Grafana dashboard's panels from data a real Prometheus scraped.

Runs the ingest example's service (``examples/ingest_service.py``) on 127.0.0.1
with a detector that retrains on a schedule, starts a Prometheus server (Debian's
``prometheus`` package) scraping it every second with the shipped
``prometheus.yml`` and ``streamae-rules.yml``, and replays a synthetic sensor
stream to ``POST /records`` at a paced rate: a normal plant, then an injected
incident (two sensors far off their range), a drift of the operating point, and
producers sending NaN, missing and non-numeric fields now and then. Afterwards it
asks Prometheus (``/api/v1/query_range``) for every query of every panel of
``grafana-dashboard.json`` over the run, and plots them, one subplot per panel,
into ``dashboard.png``. The anomaly-rate panel is shaded where Prometheus'
``StreamaeAnomalyRateHigh`` alert was firing (the ``ALERTS`` series).

Run it (about 3 minutes; needs the ``prometheus`` binary)::

    python examples/monitoring/render_dashboard.py

Options shorten the run (``--records``, ``--rate``) or change the output
(``--out``); ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import textwrap
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "examples"), str(HERE.parents[1])]

import promstack  # noqa: E402  (beside this file)

logger = logging.getLogger("render_dashboard")

NAMES = ["temp", "rpm", "load", "vibration", "pressure", "flow"]
STEP_S = 1.0  # resolution of the range queries (one point per scrape)


def build_stream(n_records: int, seed: int = 0):
    """The replayed records, and where the incident and the drift are.

    Returns ``(records, incident, drift_at)`` with ``incident = (start, stop)``
    as record indices.
    """
    from streamae.datasets import make_sensor_stream

    drift_at = int(0.68 * n_records)
    X, _ = make_sensor_stream(n_records=n_records, n_sensors=len(NAMES), anomaly_fraction=0.01,
                              drift_at=drift_at, seed=seed)
    scale = X[: n_records // 10].std(axis=0)
    incident = (int(0.38 * n_records), int(0.52 * n_records))
    start, stop = incident
    X[start:stop, NAMES.index("vibration")] += 20 * scale[NAMES.index("vibration")]
    X[start:stop, NAMES.index("pressure")] -= 15 * scale[NAMES.index("pressure")]
    records: list[dict] = [dict(zip(NAMES, map(float, row))) for row in X]

    rng = np.random.default_rng(seed)
    for i in rng.choice(n_records, size=n_records // 200, replace=False):  # sensor glitches
        records[i][NAMES[rng.integers(len(NAMES))]] = float("nan")
    for i in range(int(0.18 * n_records), int(0.24 * n_records), 9):  # a producer sends "n/a"
        records[i]["temp"] = "n/a"
    for i in range(int(0.75 * n_records), int(0.84 * n_records), 4):  # a field goes missing
        del records[i]["flow"]
    return records, incident, drift_at


def replay(service_url: str, records: list, rate: float, batch_s: float = 0.2):
    """POST the records in paced batches; return ``(send times, answers)`` per record.

    The first half goes at ``rate`` records/s, the second half at 1.5 times
    that (a busier shift). After a pause (the first training blocks the
    service) the pace resumes without a catch-up burst.
    """
    from ingest_service import post_json

    sent, answers = [], []
    schedule = time.monotonic()
    i = 0
    while i < len(records):
        r = rate if i < len(records) // 2 else 1.5 * rate
        n = max(1, int(round(r * batch_s)))
        batch = records[i:i + n]
        # json.dumps writes NaN as the bare token NaN, which the service's json.loads reads
        answers += post_json(service_url + "/records", batch, timeout=120)["results"]
        sent += [time.time()] * len(batch)
        i += len(batch)
        schedule += len(batch) / r
        delay = schedule - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            schedule = time.monotonic()
    return sent, answers


def legend(fmt: str, labels: dict) -> str:
    for key, value in labels.items():
        fmt = fmt.replace("{{" + key + "}}", value)
    return fmt


def plot(panels: list, data: list, alerts: list, t0: float, marks: dict, out: Path,
         note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    bg, panel_bg, fg, grid = "#111217", "#181b1f", "#ccccdc", "#2c3235"
    colors = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff"]
    ncols = 2
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(15, 3.1 * nrows + 1.0), sharex=True,
                             facecolor=bg)
    axes = np.atleast_1d(axes).ravel()
    for ax, panel, series in zip(axes, panels, data):
        ax.set_facecolor(panel_bg)
        for spine in ax.spines.values():
            spine.set_color(grid)
        ax.tick_params(colors=fg, labelsize=8)
        ax.grid(color=grid, linewidth=0.6)
        ax.set_title(panel["title"], color=fg, fontsize=10, loc="left")
        start, stop = marks["incident"]
        ax.axvspan(start - t0, stop - t0, color="#f2495c", alpha=0.08, lw=0)
        ax.axvline(marks["drift"] - t0, color="#8e8e8e", lw=0.8, ls=":")
        defaults = panel["fieldConfig"]["defaults"]
        step = defaults["custom"].get("lineInterpolation") == "stepAfter"
        for k, (label, ts, values) in enumerate(series):
            kw = dict(color=colors[k % len(colors)], lw=1.4, label=label)
            if label.startswith("threshold"):
                kw.update(color="#f2495c", ls="--")
            if step:
                ax.step(ts - t0, values, where="post", **kw)
            else:
                ax.plot(ts - t0, values, **kw)
        levels = [s["value"] for s in defaults["thresholds"]["steps"] if s["value"] is not None
                  and defaults["custom"]["thresholdsStyle"]["mode"] != "off"]
        for level in levels:
            ax.axhline(level, color="#f2495c", lw=0.9, ls="--")
        if panel["title"] == "Anomaly rate":
            for a, b in alerts:
                ax.axvspan(a - t0, b - t0, ymin=0.95, ymax=1.0, color="#f2495c", alpha=0.9,
                           lw=0)
            if alerts:
                ax.set_title(panel["title"] + "   (red band: alert StreamaeAnomalyRateHigh "
                             "firing in Prometheus)", color=fg, fontsize=10, loc="left")
        unit = defaults.get("unit", "")
        if unit == "percentunit":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        elif unit.startswith("suffix:"):
            ax.set_ylabel(unit.split(":", 1)[1].strip(), color=fg, fontsize=8)
        elif step:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        top = max([np.nanmax(v) for _, _, v in series if np.isfinite(v).any()] + levels,
                  default=1.0)
        top = defaults.get("max", top) * 1.25 or 1.0
        if unit == "percentunit":
            top = min(top, 1.1)  # a share: no room above 100 %
        ax.set_ylim(bottom=defaults.get("min"), top=top)
        if not series:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=fg)
        else:
            leg = ax.legend(loc="upper left", fontsize=7, ncol=4, labelcolor=fg,
                            facecolor=panel_bg, edgecolor=panel_bg, framealpha=0.9)
            leg.set_zorder(5)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-ncols:]:
        ax.set_xlabel("seconds since the replay started", color=fg, fontsize=8)
    fig.suptitle("streamae detectors (grafana-dashboard.json), rendered from Prometheus "
                 "query_range", color=fg, fontsize=12, x=0.01, ha="left")
    fig.text(0.01, 0.005, textwrap.fill(note, 190), color="#8e8e8e", fontsize=7.5, ha="left",
             va="bottom")
    fig.tight_layout(rect=(0, 0.035, 1, 0.975))
    fig.savefig(out, dpi=110, facecolor=bg)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "dashboard.png",
                        help="PNG to write (default: dashboard.png beside this script)")
    parser.add_argument("--records", type=int, default=8000, help="records to replay")
    parser.add_argument("--rate", type=float, default=40.0,
                        help="records/s of the first half (the second half goes 1.5x faster)")
    parser.add_argument("--warmup", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--retrain-every", type=int, default=2500)
    parser.add_argument("--rate-window", default="10s",
                        help="what $__rate_interval becomes in the panels' queries")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    if promstack.find_prometheus() is None:
        logger.error("no prometheus binary found: install Debian's package "
                     "(apt-get install -y prometheus) or put one on PATH")
        return 2

    from ingest_service import IngestService

    from streamae import StreamDetector

    records, incident, drift_at = build_stream(args.records)
    detector = StreamDetector(name="ingest", warmup=args.warmup, epochs=args.epochs,
                              invalid="skip", retrain_every=args.retrain_every,
                              retrain_window=2048, seed=0)
    service = IngestService(detector, port=0, addr="127.0.0.1").start()
    dashboard = json.loads(promstack.DASHBOARD.read_text())
    variables = promstack.grafana_variables(1.0, args.rate_window)
    with tempfile.TemporaryDirectory(prefix="streamae-prometheus-") as tmp:
        config = promstack.scrape_config(f"127.0.0.1:{service.port}", scrape_interval_s=1.0)
        try:
            with promstack.Prometheus(config, Path(tmp)) as prometheus:
                promstack.wait_until(prometheus.targets_up, 20, "the ingest target is up")
                time.sleep(2.0)  # a few scrapes of the idle service
                logger.info("replaying %d records to %s, Prometheus at %s", len(records),
                            service.url, prometheus.url)
                t0 = time.time()
                sent, answers = replay(service.url, records, args.rate)
                time.sleep(4.0)  # the last scrapes and rule evaluations
                t1 = time.time()
                data = []
                panels = [p for p in dashboard["panels"] if p.get("targets")]
                for panel in panels:
                    series = []
                    for target in panel["targets"]:
                        expr = promstack.expand(target["expr"], variables)
                        for s in prometheus.query_range(expr, t0 - 2, t1, STEP_S):
                            ts, vs = zip(*s["values"])
                            series.append((legend(target["legendFormat"], s["metric"]),
                                           np.array(ts, float), np.array(vs, float)))
                    data.append(series)
                firing = prometheus.query_range(
                    'ALERTS{alertname="StreamaeAnomalyRateHigh", alertstate="firing"}',
                    t0 - 2, t1, STEP_S)
                alerts = _intervals([float(t) for s in firing for t, _ in s["values"]])
                at_end = prometheus.api("alerts")["alerts"]
        finally:
            service.close()

    marks = {"incident": (sent[incident[0]], sent[incident[1] - 1]), "drift": sent[drift_at]}
    valid = [a for a in answers if a["valid"]]
    in_incident = [a for a in answers[incident[0]:incident[1]] if a["valid"]]
    from streamae.errors import INVALID_REASONS

    reasons = {r: int(detector.registry.get_sample_value(
        "streamae_invalid_records_total", {"detector": "ingest", "reason": r}))
        for r in INVALID_REASONS}
    reasons = {r: n for r, n in reasons.items() if n}
    retrains = Counter((e["trigger"], e["outcome"]) for e in detector.retrain_log)
    note = (f"{len(records)} records POSTed to examples/ingest_service.py over "
            f"{sent[-1] - sent[0]:.0f} s (warm-up {args.warmup}, retrain every "
            f"{args.retrain_every}), scraped every 1 s by Prometheus; $__rate_interval = "
            f"{args.rate_window}. Shaded: injected incident; dotted: drift of the operating "
            f"point. Rendered {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
            "examples/monitoring/render_dashboard.py.")
    plot(panels, data, alerts, t0, marks, args.out, note)

    print(f"replayed {len(records)} records in {sent[-1] - sent[0]:.0f} s: {len(valid)} valid, "
          f"{sum(a['is_anomaly'] for a in valid)} flagged "
          f"({sum(a['is_anomaly'] for a in in_incident)} of {len(in_incident)} in the incident)")
    print(f"invalid records skipped, by reason: {reasons}")
    print(f"retrains: {dict(retrains)}; serving model version {detector.model_version}")
    print(f"StreamaeAnomalyRateHigh firing for {sum(b - a for a, b in alerts):.0f} s; alerts "
          f"active at the end: {sorted(a['labels']['alertname'] for a in at_end)}")
    print(f"panels written to {args.out}")
    return 0


def _intervals(times: list[float], gap: float = 2.5 * STEP_S) -> list[tuple[float, float]]:
    """Join sorted sample times into (start, end) intervals."""
    out: list[list[float]] = []
    for t in sorted(times):
        if out and t - out[-1][1] <= gap:
            out[-1][1] = t
        else:
            out.append([t, t])
    return [(a, b) for a, b in out]


if __name__ == "__main__":
    sys.exit(main())
