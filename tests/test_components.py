"""Unit tests of the parts a detector is built from."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamae.autoencoder import (DenseAutoEncoder, FrozenAutoEncoder, default_architecture,
                                  train_autoencoder)
from streamae.centroids import CentroidModel, choose_n_clusters
from streamae.drift import ScoreDriftMonitor
from streamae.scaling import StandardScaler
from streamae.threshold import StreamingThreshold


# -- autoencoder ------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 8, 64, 274, 3000])
def test_default_architecture_scales_with_input(d):
    hidden, latent = default_architecture(d)
    assert 8 <= latent <= 32 and hidden[0] >= hidden[1] >= latent and hidden[0] <= 256


def test_bottleneck_is_normalized_during_training():
    net = DenseAutoEncoder(6, (16,), 4, normalize=True, generator=torch.Generator().manual_seed(0))
    seen = []
    net.decoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    X = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    train_autoencoder(net, X, epochs=2, batch_size=16, generator=torch.Generator().manual_seed(0))
    norms = torch.cat(seen).norm(dim=1)
    assert len(seen) == 8 and torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_frozen_copy_matches_the_torch_module():
    net = DenseAutoEncoder(10, (32, 16), 8, normalize=True, generator=torch.Generator().manual_seed(1))
    X = np.random.default_rng(1).normal(size=(50, 10)).astype(np.float32)
    train_autoencoder(net, X, epochs=3, generator=torch.Generator().manual_seed(1))
    frozen = FrozenAutoEncoder.from_module(net)
    with torch.inference_mode():
        code, recon = net(torch.from_numpy(X))
    codes, recons = frozen.reconstruct(X)
    np.testing.assert_allclose(codes, code.numpy(), atol=1e-5)
    np.testing.assert_allclose(recons, recon.numpy(), atol=1e-5)
    np.testing.assert_allclose(frozen.encode(X[3]), codes[3], atol=1e-6)


def test_toll_penalty_shrinks_codes():
    X = np.random.default_rng(2).normal(size=(128, 8)).astype(np.float32)
    norms = {}
    for penalty in (0.0, 1.0):
        net = DenseAutoEncoder(8, (16,), 8, normalize=False,
                               generator=torch.Generator().manual_seed(0))
        train_autoencoder(net, X, epochs=30, penalty=penalty,
                          generator=torch.Generator().manual_seed(0))
        norms[penalty] = np.linalg.norm(FrozenAutoEncoder.from_module(net).encode(X), axis=1).mean()
    assert norms[1.0] < 0.9 * norms[0.0]


def test_training_leaves_torch_threads_as_they_were():
    before = torch.get_num_threads()
    net = DenseAutoEncoder(4, (8,), 4, normalize=True)
    train_autoencoder(net, np.zeros((8, 4), np.float32), epochs=1, threads=1)
    assert torch.get_num_threads() == before


# -- centroids ---------------------------------------------------------------------------
def test_minibatch_update_is_sculley_rule():
    model = CentroidModel(np.array([[1.0, 0.0]]), np.array([3.0]), memory=1000)
    model.update(np.array([0.0, 1.0]), 0)
    np.testing.assert_allclose(model.centroids[0], [0.75, 0.25])
    assert model.counts[0] == 4


def test_counts_are_capped_so_centroids_keep_moving():
    model = CentroidModel(np.array([[1.0, 0.0]]), np.array([5000.0]), memory=100)
    model.update(np.array([0.0, 1.0]), 0)
    np.testing.assert_allclose(model.centroids[0], [0.99, 0.01])


def test_cosine_score_is_one_minus_max_similarity():
    model = CentroidModel(np.array([[2.0, 0.0], [0.0, 3.0]]), np.ones(2))
    scores, nearest = model.score(np.array([[1.0, 1.0], [0.0, -1.0]]))
    np.testing.assert_allclose(scores, [1 - np.sqrt(0.5), 1.0], atol=1e-6)
    assert nearest[0] in (0, 1) and scores.dtype == np.float32


def test_choose_n_clusters():
    rng = np.random.default_rng(0)
    blobs = np.vstack([rng.normal([1, 0, 0], 0.05, (60, 3)), rng.normal([0, 1, 0], 0.05, (60, 3)),
                       rng.normal([0, 0, 1], 0.05, (60, 3))])
    assert choose_n_clusters(blobs, max_clusters=6) == 3
    cloud = rng.normal(size=(200, 16))
    assert choose_n_clusters(cloud, max_clusters=6) == 1


# -- threshold ----------------------------------------------------------------------------
@pytest.mark.parametrize("memory", [500, None], ids=["rate-limited", "window-rule"])
def test_threshold_is_stable_on_a_stationary_stream(memory):
    rng = np.random.default_rng(0)
    th = StreamingThreshold.calibrate(rng.gamma(2.0, 1.0, 2000), contamination=0.1,
                                      memory=memory)
    start = th.value
    flags = []
    for s in rng.gamma(2.0, 1.0, 20000):
        flags.append(s > th.value)
        th.observe(float(s))
    assert th.value == pytest.approx(start, rel=0.1)
    assert np.mean(flags) == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize("memory", [500, None], ids=["rate-limited", "window-rule"])
def test_threshold_follows_normal_scores_upwards(memory):
    rng = np.random.default_rng(0)
    th = StreamingThreshold.calibrate(rng.gamma(2.0, 1.0, 2000), contamination=0.1,
                                      memory=memory)
    start = th.value
    for s in 1.2 * rng.gamma(2.0, 1.0, 20000):
        th.observe(float(s))
    assert th.value > 1.1 * start


def test_rate_limited_threshold_tracks_a_slow_rise_near_the_contamination():
    # normal scores double over 10 000 records (a rise of r = 1e-4 to 5e-5 a record):
    # the share flagged exceeds the contamination by about r * memory (0.03)
    rng = np.random.default_rng(1)
    th = StreamingThreshold.calibrate(rng.gamma(2.0, 1.0, 2000), 0.1, memory=500)
    flags = []
    for i, s in enumerate(rng.gamma(2.0, 1.0, 10000)):
        s *= 1.0 + i / 10000
        flags.append(s > th.value)
        th.observe(float(s))
    assert 0.1 < np.mean(flags) <= 0.15
    assert th.value == pytest.approx(2 * StreamingThreshold.calibrate(
        rng.gamma(2.0, 1.0, 20000), 0.1).value, rel=0.1)


@pytest.mark.parametrize("memory", [500, None], ids=["rate-limited", "window-rule"])
def test_threshold_state_round_trip(memory):
    th = StreamingThreshold.calibrate(np.linspace(0, 1, 50), 0.1, recalibrate_after=80,
                                      memory=memory)
    for s in np.linspace(0, 1, 30):
        th.observe(float(s))
    clone = StreamingThreshold.from_state(th.state())
    for s in np.linspace(0, 1.5, 200):
        th.observe(float(s))
        clone.observe(float(s))
        assert th.value == clone.value


# -- drift monitor and scaler ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["adwin", "page_hinkley"])
def test_drift_monitor_restores_exactly(kind):
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(0.2, 0.05, 1500), rng.normal(1.5, 0.05, 1500)]
    a = ScoreDriftMonitor(kind, memory=700)
    hits_a = [a.update(float(s)) for s in scores[:1000]]
    b = ScoreDriftMonitor.from_state(a.state())
    rest_a = [a.update(float(s)) for s in scores[1000:]]
    rest_b = [b.update(float(s)) for s in scores[1000:]]
    assert rest_a == rest_b and any(rest_a) and not any(hits_a)


def test_scaler_floor_tames_rare_features():
    X = np.zeros((100, 3))
    X[:, 0] = np.random.default_rng(0).normal(size=100)
    X[:, 1] = np.random.default_rng(1).normal(size=100)
    X[0, 2] = 1.0                                      # lit once in the warm-up
    plain = StandardScaler(floor=0.0).fit(X).transform(np.array([0.0, 0.0, 1.0]))
    shrunk = StandardScaler(floor=1.0).fit(X).transform(np.array([0.0, 0.0, 1.0]))
    assert plain[2] == pytest.approx(9.95, abs=0.01) and shrunk[2] < 1.5


def test_threshold_cannot_lock_a_busy_regime_out_forever():
    rng = np.random.default_rng(0)
    th = StreamingThreshold.calibrate(rng.gamma(2.0, 1.0, 2000), contamination=0.1, size=2000)
    for s in 0.1 * rng.gamma(2.0, 1.0, 3000):        # a long quiet regime drags it down
        th.observe(float(s))
    flags = []
    for s in rng.gamma(2.0, 1.0, 6000):               # the usual regime returns
        flags.append(s > th.value)
        th.observe(float(s))
    assert np.mean(flags[-2000:]) <= 0.55


def test_guard_recalibration_on_unseen_records_only_loosens_the_references():
    from streamae.guard import RangeGuard

    rng = np.random.default_rng(0)
    guard = RangeGuard.fit(rng.normal(size=(500, 8)), factor=3.0, recalibrate_after=100)
    before = (guard.mean_square_ref, guard.max_abs_ref)
    # unseen records twice as spread out as the training ones, but never above 4 in a feature
    for x in np.clip(rng.normal(scale=2.0, size=(100, 8)), -4, 4):
        assert guard.calibrating
        guard.observe(x)
    assert not guard.calibrating and guard.pending == []
    assert guard.mean_square_ref > before[0]     # wider on unseen records: raised
    assert guard.max_abs_ref >= before[1]
    refs = (guard.mean_square_ref, guard.max_abs_ref)
    guard.observe(np.full(8, 1e6))               # calibration is over: ignored
    assert (guard.mean_square_ref, guard.max_abs_ref) == refs


def test_guard_state_round_trips_mid_calibration():
    import json

    from streamae.guard import RangeGuard

    rng = np.random.default_rng(1)
    guard = RangeGuard.fit(rng.normal(size=(50, 4)), 3.0, recalibrate_after=10)
    guard.observe(rng.normal(size=4))
    clone = RangeGuard.from_state(json.loads(json.dumps(guard.state())))
    assert clone.state() == guard.state()
    later = rng.normal(scale=3.0, size=(9, 4))
    for g in (guard, clone):
        for x in later:
            g.observe(x)
    assert clone.state() == guard.state() and not clone.calibrating
    records = np.vstack([np.zeros(4), np.full(4, 50.0)])
    np.testing.assert_array_equal(clone.apply([0.1, 0.1], records),
                                  guard.apply([0.1, 0.1], records))
    assert guard.ratio_one(records[1]) == pytest.approx(guard.ratio(records)[1])


def test_guard_rejects_a_factor_that_would_flag_the_training_records():
    from streamae.guard import RangeGuard

    with pytest.raises(ValueError, match="above 1"):
        RangeGuard(1.0, 1.0, factor=1.0)
