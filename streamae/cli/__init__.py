"""The ``streamae`` command: replay a recorded stream through a detector.

``streamae replay FILE|-``
    Reads a CSV or JSON-lines stream (``-`` is standard input), scores each
    record with :meth:`~streamae.StreamDetector.process_one` (score first,
    then learn, as an ingest service would; the loop is
    :func:`streamae.replay.replay`), and prints a summary. Options choose the
    feature columns (or columns to ignore), a label and a timestamp column,
    the detector configuration (a file and/or one flag per
    :class:`~streamae.DetectorConfig` field; flags win), where the scores go
    (``--output``, ``-`` for standard output), a plot (``--plot``), a
    Prometheus endpoint while it runs (``--metrics-port``) and saving or
    loading the detector (``--save``, ``--load``).
``streamae demo``
    The same on a stream shipped with the install, no download: scikit-learn's
    bundled 8x8 digits with one digit kept at 10 % as the anomaly (the
    protocol of Aytekin et al.), or ``--dataset sensors``, a synthetic
    multi-sensor stream with anomalies and a drift.

Bad records (a non-numeric value, NaN, a missing field, an integer too large
for a float, a CSV row with the wrong number of fields, a line that is not a
JSON object) are reported with their line number. Under the default
``--invalid raise`` the first one stops the run with exit code 2 and a
one-line error naming the line and the field; under ``--invalid skip`` they are
counted, written to the output as not valid (empty score, with the reason),
and the run goes on.

Exit codes: 0 success, 1 a failure after the replay (saving the detector or
writing the plot), 2 bad usage, configuration, input file or record, 130
interrupted (the summary of what was replayed is still printed).

Modules: :mod:`~streamae.cli.config` (flags from the config, config files),
:mod:`~streamae.cli.sources` (CSV / JSON lines / stdin),
:mod:`~streamae.cli.output` (the scores written out), :mod:`~streamae.cli.replay`
(the replay command), :mod:`~streamae.cli.summary`, :mod:`~streamae.cli.plots`,
:mod:`~streamae.cli.demo`, :mod:`~streamae.cli.main` (parser and entry point).

Examples
--------
>>> import tempfile, pathlib
>>> from streamae.datasets import make_sensor_stream
>>> tmp = tempfile.TemporaryDirectory(); path = pathlib.Path(tmp.name) / "s.csv"
>>> X, y = make_sensor_stream(n_records=300, n_sensors=4, seed=0)
>>> rows = ["a,b,c,d,label"] + [",".join(map(str, [*x, t])) for x, t in zip(X, y)]
>>> _ = path.write_text("\\n".join(rows) + "\\n")
>>> main(["replay", str(path), "--label-column", "label", "--warmup", "100",
...       "--epochs", "3", "--n-clusters", "3", "--quiet"])  # doctest: +ELLIPSIS
streamae replay: .../s.csv
  records              300 (300 valid, 0 invalid)
  ...
0
>>> tmp.cleanup()
"""

from ._common import CLIError
from .config import config_from_sources, load_config_file
from .main import build_parser, main

__all__ = ["CLIError", "build_parser", "config_from_sources", "load_config_file", "main"]
