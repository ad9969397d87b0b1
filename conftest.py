"""Collection rules for the whole checkout (tests, doctests of the package, README)."""

import importlib.util

collect_ignore_glob = []
if importlib.util.find_spec("apache_beam") is None:
    # streamae.beam needs the optional ``beam`` extra; without Apache Beam its
    # modules cannot even be imported for their doctests (tests/test_beam.py
    # skips itself with the reason).
    collect_ignore_glob.append("streamae/beam/*.py")
