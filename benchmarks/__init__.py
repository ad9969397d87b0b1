"""Benchmarks of streamae against streaming anomaly detectors of other libraries.

Every study is one command run from the repository root, for example
``python -m benchmarks.digits --quick``; see ``benchmarks/README.md``.

Modules
-------
peers
    One small adapter per detector (streamae's variants and the peers of river,
    PySAD, deep-river and scikit-learn), built by :func:`benchmarks.peers.make_detector`.
prequential
    The prequential runner (learn the warm-up, then score each record before
    learning it), its metrics and the JSON / markdown / plot writers.
digits, arrhythmia, odds, mnist
    Prequential studies on the digits protocol, Arrhythmia, ODDS data sets and
    the MNIST protocol.
speed
    Records/s, latency and memory of ``process_one`` and ``score_many`` as a
    ratio to river's HalfSpaceTrees measured in the same run.

Results go to ``benchmarks/results/``; a score is higher for more anomalous
records, for every detector.
"""
