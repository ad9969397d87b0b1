"""The neighbour term of the score (streamae.neighbours, ``neighbours=20`` by default)."""

from __future__ import annotations

import numpy as np
import pytest

from streamae import StreamDetector
from streamae.l2 import l2_normalize
from streamae.neighbours import NeighbourMemory

FAST = dict(warmup=128, epochs=20, seed=0, metrics=False, n_clusters=2)


@pytest.fixture(scope="module")
def two_modes():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(600, 5)) * 0.3 + np.array([3.0, 0, 0, 0, 0])
    b = rng.normal(size=(600, 5)) * 0.3 + np.array([0, 3.0, 0, 0, 0])
    X = np.empty((1200, 5))
    X[0::2], X[1::2] = a, b
    return X


def test_the_mean_of_the_nearest_codes_and_its_batch_form_agree():
    rng = np.random.default_rng(1)
    codes, clusters = rng.normal(size=(50, 8)), rng.integers(0, 3, 50)
    memory = NeighbourMemory.fit(codes, clusters, neighbours=5, size=40)
    assert memory.size == 40 and (np.diff(memory.clusters) >= 0).all()
    queries = rng.normal(size=(7, 8))
    unit = l2_normalize(queries)
    expected = 1 - np.sort(unit @ l2_normalize(codes[-40:]).T, axis=1)[:, -5:].mean(axis=1)
    np.testing.assert_allclose(memory.score(queries), expected, atol=1e-6)
    one = [memory.score_one(q.astype(np.float32), float(np.linalg.norm(q))) for q in queries]
    np.testing.assert_allclose(one, expected, atol=1e-6)
    # the training records themselves: each is not its own neighbour
    own = memory.score(codes[-40:], leave_one_out=True)
    sims = l2_normalize(codes[-40:]) @ l2_normalize(codes[-40:]).T
    np.fill_diagonal(sims, -np.inf)
    np.testing.assert_allclose(own, 1 - np.sort(sims, axis=1)[:, -5:].mean(axis=1), atol=1e-6)


def test_each_cluster_replaces_only_its_own_oldest_codes():
    memory = NeighbourMemory.fit(np.eye(4)[[0, 1, 2, 3]], np.array([0, 0, 1, 1]),
                                 neighbours=1, size=4)
    memory.add(np.array([0.0, 0.0, 0.0, 5.0]), 5.0, cluster=1)
    memory.add(np.array([0.0, 0.0, 5.0, 0.0]), 5.0, cluster=1)
    np.testing.assert_array_equal(memory.codes[:2], np.eye(4)[[0, 1]])   # cluster 0 untouched
    np.testing.assert_array_equal(memory.codes[2:], np.eye(4)[[3, 2]])
    assert memory.positions == {0: 0, 1: 0}                              # wrapped around
    back = NeighbourMemory.from_state(memory.state())
    np.testing.assert_array_equal(back.codes, memory.codes)
    assert back.positions == memory.positions
    renamed = memory.relabelled({0: 1, 1: 0})
    np.testing.assert_array_equal(renamed.codes, memory.codes[[2, 3, 0, 1]])
    assert renamed.without([0]).clusters.tolist() == [1, 1]


def test_a_bad_memory_state_is_refused():
    state = NeighbourMemory.fit(np.eye(3), np.array([0, 1, 1]), 2, 3).state()
    with pytest.raises(ValueError, match="NaN or infinite"):
        NeighbourMemory.from_state({**state, "codes": np.full((3, 3), np.nan)})
    with pytest.raises(ValueError, match="outside its buffer"):
        NeighbourMemory.from_state({**state, "positions": np.array([0, 5])})
    with pytest.raises(ValueError, match="grouped by cluster"):
        NeighbourMemory(np.eye(3), np.array([1, 0, 1]), 2)


def test_the_detector_learns_normal_records_into_the_memory_and_keeps_anomalies_out(two_modes):
    det = StreamDetector(**FAST)
    det.learn_many(two_modes[:128])
    start = det.state()["model"]["memory"]
    assert start["codes"].shape == (128, det.state()["model"]["centroids"]["centroids"].shape[1])
    assert start["neighbours"] == 20
    det.learn_many(two_modes[128:400])
    learned = det.state()["model"]["memory"]
    assert not np.array_equal(learned["codes"], start["codes"])
    # a far excursion is lifted by the range guard and never enters the memory
    for _ in range(30):
        assert det.process_one(two_modes[0] + 50.0).is_anomaly
    np.testing.assert_array_equal(det.state()["model"]["memory"]["codes"], learned["codes"])


def test_a_detector_restored_mid_stream_continues_bit_identically(two_modes):
    det = StreamDetector(**FAST)
    det.learn_many(two_modes[:300])
    twin = StreamDetector.from_state(det.state())
    a = [det.process_one(x).score for x in two_modes[300:700]]
    b = [twin.process_one(x).score for x in two_modes[300:700]]
    assert a == b
    np.testing.assert_array_equal(det.state()["model"]["memory"]["codes"],
                                  twin.state()["model"]["memory"]["codes"])


def test_neighbours_zero_is_the_centroid_term_alone(two_modes):
    """The paper's score: 1 - max_j cos(z, C_j), no memory in the state."""
    det = StreamDetector(**FAST, neighbours=0, guard=None)
    det.learn_many(two_modes[:128])
    model = det.state()["model"]
    assert model["memory"] is None
    with_memory = StreamDetector(**FAST, guard=None)
    with_memory.learn_many(two_modes[:128])
    x = two_modes[200]
    # same network and centroids (same seed); the scores differ by the neighbour term
    np.testing.assert_array_equal(with_memory.centroids, det.centroids)
    assert with_memory.score_one(x) != det.score_one(x)


def test_a_retrain_builds_a_new_memory_under_the_new_encoder(two_modes):
    det = StreamDetector(**FAST, retrain_every=200, retrain_window=256,
                         retrain_tolerance=100.0)      # accept the short-trained candidate
    for x in two_modes[:700]:
        det.process_one(x)
    det.wait_for_retrain()
    assert det.model_version >= 2
    memory = det.state()["model"]["memory"]
    assert memory["codes"].shape[0] == 128        # the warm-up size, as configured
    assert set(memory["clusters"].tolist()) == {0, 1}


def test_the_neighbour_weight_blends_the_two_terms(two_modes, tmp_path):
    det = StreamDetector(**FAST, neighbour_weight=0.3, guard=None)   # not the default
    det.learn_many(two_modes[:300])
    for x in two_modes[300:340]:
        why = det.explain_one(x)
        assert why.score == pytest.approx(0.7 * why.centroid_term + 0.3 * why.neighbour_term,
                                          abs=1e-9)
    batch = det.score_many(two_modes[300:340])
    np.testing.assert_allclose(batch, [det.score_one(x) for x in two_modes[300:340]],
                               rtol=1e-5, atol=1e-6)
    twin = StreamDetector.from_state(det.state())                 # the weight is state
    assert [det.process_one(x).score for x in two_modes[340:500]] == \
        [twin.process_one(x).score for x in two_modes[340:500]]
    det.save(tmp_path / "weighted.npz")                             # and in the file
    loaded = StreamDetector.load(tmp_path / "weighted.npz")
    assert loaded.score_one(two_modes[600]) == det.score_one(two_modes[600])
    state = det.state()
    state["model"]["neighbour_weight"] = 1.5
    with pytest.raises(ValueError, match="neighbour_weight"):
        StreamDetector.from_state(state)
    with pytest.raises(ValueError):                               # the config refuses it too
        StreamDetector(neighbour_weight=-0.1)
