"""Synthetic multi-sensor stream with injected anomalies and an optional drift."""

from __future__ import annotations

import numbers

import numpy as np

from ._common import check_fraction, check_int, check_nonnegative

_N_MODES = 3
_MODE_RADIUS = 3.0  # latent distance of the modes from their centre
_MEAN_SEGMENT = 150  # mean length of a stay in one operating mode (records)
_MIN_SEGMENT = 20
_PERIOD = 288  # "daily" cycle: one day of 5-minute readings
_NOISE_STD = 0.1
_DRIFT_SHIFT = 2.0  # latent distance the operating point moves at the drift
#: Kinds of collective anomaly runs make_sensor_stream can inject.
COLLECTIVE_KINDS = ("shift", "stuck", "ramp", "vibration", "freeze")
_DEFAULT_KINDS = ("shift", "stuck")


def _draw_phase(rng: np.random.Generator, n_sensors: int, d: int) -> dict:
    """Mode means in latent space, mixing matrix and sensor offsets of one phase."""
    angles = rng.uniform(0, 2 * np.pi) + np.arange(_N_MODES) * 2 * np.pi / _N_MODES
    if d == 1:
        means = rng.permutation(np.array([[-1.0], [0.0], [1.0]]) * _MODE_RADIUS)
    else:
        # modes on a circle in a random plane: pairwise distance radius * sqrt(3)
        flat = np.zeros((_N_MODES, d))
        flat[:, 0], flat[:, 1] = np.cos(angles), np.sin(angles)
        rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
        means = _MODE_RADIUS * flat @ rotation.T
    mixing = rng.standard_normal((n_sensors, d))
    # every sensor carries signal: rows of norm 0.7..1.3
    mixing *= rng.uniform(0.7, 1.3, (n_sensors, 1)) / np.linalg.norm(mixing, axis=1, keepdims=True)
    offsets = rng.normal(0.0, 2.0, n_sensors)
    return {"means": means, "mixing": mixing, "offsets": offsets}


def _drifted_phase(rng: np.random.Generator, phase: dict) -> dict:
    """The operating point after the drift: modes moved, mixing and offsets changed."""
    n_sensors, d = phase["mixing"].shape
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    means = phase["means"] + _DRIFT_SHIFT * direction + rng.normal(0.0, 0.3, phase["means"].shape)
    mixing = phase["mixing"] + 0.5 * rng.standard_normal((n_sensors, d)) / np.sqrt(d)
    mixing *= np.linalg.norm(phase["mixing"], axis=1, keepdims=True) / np.linalg.norm(
        mixing, axis=1, keepdims=True
    )
    offsets = phase["offsets"] + rng.normal(0.0, 1.5, n_sensors)
    return {"means": means, "mixing": mixing, "offsets": offsets}


def _mode_sequence(rng: np.random.Generator, n_records: int) -> np.ndarray:
    """Sticky regime sequence: stays of about _MEAN_SEGMENT records, then another mode."""
    modes = np.empty(n_records, dtype=np.int64)
    mode, start = int(rng.integers(_N_MODES)), 0
    while start < n_records:
        length = _MIN_SEGMENT + int(rng.geometric(1.0 / (_MEAN_SEGMENT - _MIN_SEGMENT)))
        modes[start:start + length] = mode
        start += length
        mode = (mode + int(rng.integers(1, _N_MODES))) % _N_MODES
    return modes


def _resolve_drift(drift_at, n_records: int) -> int | None:
    func = "make_sensor_stream"
    if drift_at is None:
        return None
    if isinstance(drift_at, numbers.Integral) and not isinstance(drift_at, bool):
        return check_int(drift_at, "drift_at", func, 1, n_records - 1)
    if isinstance(drift_at, numbers.Real) and not isinstance(drift_at, bool):
        frac = float(drift_at)
        if 0.0 < frac < 1.0:
            return min(max(int(round(frac * n_records)), 1), n_records - 1)
    raise ValueError(
        f"The 'drift_at' parameter of {func} must be None, an int in the range "
        f"[1, {n_records - 1}] or a float in the range (0, 1). Got {drift_at!r} instead."
    )


def make_sensor_stream(
    n_records: int = 5000,
    n_sensors: int = 8,
    anomaly_fraction: float = 0.02,
    drift_at: int | float | None = None,
    collective_length: int = 20,
    seed: int = 0,
    wander: float = 0.0,
    collective_kinds: tuple[str, ...] = _DEFAULT_KINDS,
    return_kinds: bool = False,
) -> tuple[np.ndarray, ...]:
    """Generate a labelled multi-sensor stream with point and collective anomalies.

    Normal records come from a plant with three latent operating modes. The
    plant stays in a mode for about 150 records, then switches. A record is
    ``x_t = A (mu_m + s_m * e_t) + b + c * sin(2 pi t / 288 + phi) + noise``:
    a low-dimensional latent state (``n_sensors // 2`` dimensions, 1 to 4) mixed
    into all sensors by a random matrix ``A``, so normal data are clustered
    (one cluster per mode) and the sensors are correlated; plus a daily-like
    cycle and white noise.

    About ``anomaly_fraction`` of the records are anomalies (label 1), roughly
    half in collective runs and half as single points:

    - point anomalies: a spike of 4-7 within-mode standard deviations on one or
      two sensors, or broken correlation (up to half of the sensors read as if
      the plant were in another mode, each of them within its normal range);
    - collective anomalies: runs of ``collective_length`` records where one or
      two sensors are, by default, shifted by 3-5 standard deviations
      (``"shift"``), or stuck at a constant off-normal value (``"stuck"``).
      ``collective_kinds`` can ask for runs whose records each look normal or
      nearly so, and only the run is abnormal: ``"ramp"`` (the sensors glide
      away, by 3-5 standard deviations at the run's last record, then snap
      back: a valve that closes slowly), ``"vibration"`` (they alternate
      between +a and -a around their normal reading, a = 1.2-2 standard
      deviations: a vibrating pump) and ``"freeze"`` (they keep reading their
      value at the run's first record: a frozen sensor).

    With ``drift_at``, the operating point moves abruptly at that record and
    stays: the mode means shift, the mixing matrix and the sensor offsets
    change. Anomalies after the drift are injected relative to the new normal.
    The records before ``drift_at`` are the same as without drift (same seed).

    With ``wander``, the operating point also moves slowly and steadily, as a
    plant's does with wear, load or the seasons: every sensor's offset glides
    along a smooth path (a ramp plus a slow swing, in a random direction per
    sensor) that reaches ``wander`` within-mode standard deviations of the
    sensor at its farthest. Such moves are normal: they are not labelled.
    ``anomaly_fraction=0`` gives a stream without anomalies, on which every
    alarm is a false alarm.

    Parameters
    ----------
    n_records : int, default=5000
        Length of the stream (>= 2).
    n_sensors : int, default=8
        Number of sensors (columns, >= 2).
    anomaly_fraction : float, default=0.02
        Fraction of labelled anomalies, in [0, 0.5). The count is
        ``round(anomaly_fraction * n_records)`` exactly.
    drift_at : int or float, optional
        Record index of the drift (an int in [1, n_records - 1]) or a fraction
        of ``n_records`` (a float in (0, 1)). Default: no drift.
    collective_length : int, default=20
        Length of each collective anomaly run (>= 1). When the anomaly budget is
        too small for a run, all anomalies are points.
    seed : int, default=0
        Seed of the generators (non-negative); the same seed gives the same stream.
    wander : float, default=0.0
        Largest slow move of the operating point, in within-mode standard
        deviations of each sensor (>= 0). 0 keeps it still; the stream is
        then the same as before this option existed.
    collective_kinds : tuple of str, default=("shift", "stuck")
        Kinds of the collective runs, from ``"shift"``, ``"stuck"``,
        ``"ramp"``, ``"vibration"``, ``"freeze"``. The default draws
        ``"shift"`` or ``"stuck"`` at random for each run (the stream of
        earlier versions); any other choice gives the runs the kinds in turn,
        in the order given. Where the runs are, and everything else, does not
        depend on the kinds.
    return_kinds : bool, default=False
        Also return each record's kind of anomaly.

    Returns
    -------
    X : ndarray of shape (n_records, n_sensors), float64
        The stream, in time order.
    y : ndarray of shape (n_records,), int64
        1 for injected anomalies, 0 for normal records.
    kinds : ndarray of shape (n_records,), str
        Only with ``return_kinds``: ``""`` for normal records, ``"point"``
        for point anomalies, the run's kind for records of a collective run.

    Examples
    --------
    >>> import numpy as np
    >>> from streamae.datasets import make_sensor_stream
    >>> X, y = make_sensor_stream(n_records=2000, n_sensors=4, seed=0)
    >>> X.shape, X.dtype, int(y.sum())
    ((2000, 4), dtype('float64'), 40)
    >>> Xd, yd = make_sensor_stream(n_records=2000, n_sensors=4, drift_at=0.5, seed=0)
    >>> bool(np.array_equal(Xd[:1000], X[:1000])), bool(np.array_equal(Xd[1000:], X[1000:]))
    (True, False)
    >>> Xw, yw = make_sensor_stream(n_records=2000, n_sensors=4, anomaly_fraction=0.0,
    ...                             wander=4.0, seed=0)
    >>> int(yw.sum()), bool(np.abs(Xw[-200:].mean(0) - Xw[:200].mean(0)).max() > 1.0)
    (0, True)
    >>> Xk, yk, kinds = make_sensor_stream(n_records=2000, n_sensors=4, collective_length=10,
    ...                                    collective_kinds=("ramp", "freeze"), return_kinds=True,
    ...                                    seed=0)
    >>> sorted(set(kinds.tolist())), bool(np.array_equal(yk, kinds != ""))
    (['', 'freeze', 'point', 'ramp'], True)
    """
    func = "make_sensor_stream"
    n_records = check_int(n_records, "n_records", func, low=2)
    n_sensors = check_int(n_sensors, "n_sensors", func, low=2)
    anomaly_fraction = check_fraction(
        anomaly_fraction, "anomaly_fraction", func, allow_zero=True, high=0.5, allow_high=False
    )
    collective_length = check_int(collective_length, "collective_length", func, low=1)
    drift = _resolve_drift(drift_at, n_records)
    seed = check_int(seed, "seed", func, low=0)
    wander = check_nonnegative(wander, "wander", func)
    collective_kinds = tuple(collective_kinds)
    if not collective_kinds or set(collective_kinds) - set(COLLECTIVE_KINDS):
        raise ValueError(f"The 'collective_kinds' parameter of {func} must be a non-empty "
                         f"tuple of names from {COLLECTIVE_KINDS}. Got {collective_kinds!r} "
                         "instead.")

    # Separate generators so that the normal stream before the drift, and the
    # anomaly positions, do not depend on whether or where a drift happens.
    normal_rng, drift_rng, anomaly_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    d = min(4, max(1, n_sensors // 2))
    phases = [_draw_phase(normal_rng, n_sensors, d)]
    latent_std = normal_rng.uniform(0.3, 0.7, (_N_MODES, d))
    cycle_amp = normal_rng.uniform(0.2, 0.6, n_sensors)
    cycle_phase = normal_rng.uniform(0, 2 * np.pi) + normal_rng.normal(0.0, 0.3, n_sensors)
    modes = _mode_sequence(normal_rng, n_records)
    eps = normal_rng.standard_normal((n_records, d))
    noise = _NOISE_STD * normal_rng.standard_normal((n_records, n_sensors))
    phases.append(_drifted_phase(drift_rng, phases[0]))

    phase_of = np.zeros(n_records, dtype=np.int64)
    if drift is not None:
        phase_of[drift:] = 1
    t = np.arange(n_records)
    X = cycle_amp * np.sin(2 * np.pi * t[:, None] / _PERIOD + cycle_phase) + noise
    for p, phase in enumerate(phases):
        rows = phase_of == p
        latent = phase["means"][modes[rows]] + latent_std[modes[rows]] * eps[rows]
        X[rows] += latent @ phase["mixing"].T + phase["offsets"]
    # within-mode standard deviation of each sensor, per phase: the unit of the anomalies
    # (and of the slow moves)
    scales = [
        np.sqrt(
            np.mean((ph["mixing"] ** 2) @ (latent_std**2).T, axis=1)
            + _NOISE_STD**2 + cycle_amp**2 / 2
        )
        for ph in phases
    ]

    if wander > 0:
        # its own generator (the fourth child), so the other three draw as before
        wander_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
        direction = wander_rng.uniform(-1.0, 1.0, n_sensors)
        swing = wander_rng.uniform(-1.0, 1.0, n_sensors)
        phase = wander_rng.uniform(0, 2 * np.pi)
        u = t[:, None] / max(n_records - 1, 1)
        path = direction * u + swing * np.sin(3 * np.pi * u + phase) * 0.5
        path *= wander / np.abs(path).max()
        X += path * np.where(phase_of[:, None] == 0, scales[0], scales[1])

    y = np.zeros(n_records, dtype=np.int64)
    kinds = np.full(n_records, "", dtype="<U9")
    n_anomalies = int(round(anomaly_fraction * n_records))
    n_runs = int(round(0.5 * n_anomalies)) // collective_length
    n_points = n_anomalies - n_runs * collective_length
    rng = anomaly_rng

    # collective runs: one per block of the stream, so they never overlap
    if n_runs:
        block = n_records // n_runs
        starts = np.arange(n_runs) * block + rng.integers(0, block - collective_length + 1, n_runs)
    else:
        starts = np.zeros(0, dtype=np.int64)
    run_keys = rng.random((n_runs, n_sensors))
    run_two = rng.random(n_runs) < 0.3
    run_stuck = rng.random(n_runs) < 0.5
    run_delta = rng.choice([-1.0, 1.0], (n_runs, n_sensors)) * rng.uniform(
        3, 5, (n_runs, n_sensors)
    )
    for k, start in enumerate(starts):
        stop = start + collective_length
        channels = np.argsort(run_keys[k])[: 1 + int(run_two[k] and n_sensors > 2)]
        delta = run_delta[k, channels] * scales[phase_of[start]][channels]
        if collective_kinds == _DEFAULT_KINDS:
            kind = "stuck" if run_stuck[k] else "shift"
        else:
            kind = collective_kinds[k % len(collective_kinds)]
        _inject_run(X, start, stop, channels, delta, kind)
        y[start:stop] = 1
        kinds[start:stop] = kind

    # point anomalies among the remaining records
    points = np.sort(rng.choice(np.flatnonzero(y == 0), size=n_points, replace=False))
    point_keys = rng.random((n_points, n_sensors))
    point_two = rng.random(n_points) < 0.3
    point_decorrelate = rng.random(n_points) < 0.4
    point_delta = rng.choice([-1.0, 1.0], (n_points, n_sensors)) * rng.uniform(
        4, 7, (n_points, n_sensors)
    )
    for k, i in enumerate(points):
        phase, scale = phases[phase_of[i]], scales[phase_of[i]]
        if point_decorrelate[k]:
            # the most different other mode; its sensors that move by >= 2 sd
            means = phase["means"]
            shifts = [
                phase["mixing"] @ (means[(modes[i] + j) % _N_MODES] - means[modes[i]])
                for j in range(1, _N_MODES)
            ]
            shift = max(shifts, key=lambda s: np.max(np.abs(s) / scale))
            z = np.abs(shift) / scale
            channels = np.argsort(-z)[: max(1, n_sensors // 2)]
            channels = channels[z[channels] >= 2.0]
            if channels.size:
                X[i, channels] += shift[channels]
                y[i] = 1
                continue
        channels = np.argsort(point_keys[k])[: 1 + int(point_two[k])]
        X[i, channels] += point_delta[k, channels] * scale[channels]
        y[i] = 1
    kinds[points[y[points] == 1]] = "point"
    return (X, y, kinds) if return_kinds else (X, y)


def _inject_run(X: np.ndarray, start: int, stop: int, channels: np.ndarray, delta: np.ndarray,
                kind: str) -> None:
    """Turn records ``start:stop`` of ``channels`` into a collective anomaly of ``kind``.

    ``delta`` (one per channel, signed) is 3-5 within-mode standard deviations.
    """
    length = stop - start
    if kind == "stuck":
        X[start:stop, channels] = X[start, channels] + delta
    elif kind == "shift":
        X[start:stop, channels] += delta
    elif kind == "ramp":
        X[start:stop, channels] += np.outer(np.arange(1, length + 1) / length, delta)
    elif kind == "vibration":
        sign = np.where(np.arange(length) % 2 == 0, 1.0, -1.0)
        X[start:stop, channels] += np.outer(sign, 0.4 * delta)
    else:  # freeze: the reading of the run's first record, kept
        X[start:stop, channels] = X[start, channels]


def make_contaminated_stream(
    n_records: int = 3000,
    n_features: int = 20,
    anomaly_fraction: float = 0.03,
    spread: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate a shuffled stream whose anomalies are all of one kind, warm-up included.

    Normal records come from four Gaussian modes of a 3-dimensional latent
    state, mixed into ``n_features`` correlated features with a little noise.
    Each record is an anomaly with probability ``anomaly_fraction``, wherever
    it falls, so a warm-up holds about that share of anomalies too. All
    anomalies lie in one tight group (a spread of ``spread`` feature standard
    deviations) away from the normal modes: the contaminated warm-up a real
    stream gives, in its hardest form for a clustering detector, since k-means
    can give the group a centroid of its own and make every later anomaly
    look normal.

    Parameters
    ----------
    n_records : int, default=3000
        Length of the stream (>= 2).
    n_features : int, default=20
        Number of features (>= 2).
    anomaly_fraction : float, default=0.03
        Probability that a record is an anomaly, in [0, 0.5).
    spread : float, default=0.05
        Standard deviation of the anomaly group, in feature standard deviations (>= 0).
    seed : int, default=0
        Seed of the generator (non-negative).

    Returns
    -------
    X : ndarray of shape (n_records, n_features), float64
    y : ndarray of shape (n_records,), int64
        1 for anomalies.

    Examples
    --------
    >>> from streamae.datasets import make_contaminated_stream
    >>> X, y = make_contaminated_stream(n_records=1000, seed=1)
    >>> X.shape, int(y[:512].sum()), int(y.sum())
    ((1000, 20), 11, 18)
    """
    func = "make_contaminated_stream"
    n_records = check_int(n_records, "n_records", func, low=2)
    n_features = check_int(n_features, "n_features", func, low=2)
    anomaly_fraction = check_fraction(
        anomaly_fraction, "anomaly_fraction", func, allow_zero=True, high=0.5, allow_high=False
    )
    seed = check_int(seed, "seed", func, low=0)
    spread = check_nonnegative(spread, "spread", func)
    rng = np.random.default_rng(seed)
    n_modes, latent = 4, 3
    means = rng.normal(0.0, 3.0, (n_modes, latent))
    mixing = rng.normal(size=(latent, n_features))
    modes = rng.integers(n_modes, size=n_records)
    X = (means[modes] + rng.normal(size=(n_records, latent))) @ mixing
    X += 0.3 * rng.normal(size=(n_records, n_features))
    y = (rng.random(n_records) < anomaly_fraction).astype(np.int64)
    std = X.std(axis=0)
    center = X.mean(axis=0) + rng.normal(0.0, 1.0, n_features) * std
    X[y == 1] = center + spread * std * rng.normal(size=(int(y.sum()), n_features))
    return X, y
