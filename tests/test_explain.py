"""Per-record explanations: the sensor that was made anomalous ranks first."""

from __future__ import annotations

import numpy as np
import pytest

from streamae import NotReadyError, StreamDetector
from streamae.datasets import make_sensor_stream

NAMES = [f"s{j}" for j in range(8)]


@pytest.fixture(scope="module")
def trained():
    X, _ = make_sensor_stream(n_records=1400, n_sensors=8, anomaly_fraction=0.001, seed=11)
    det = StreamDetector(warmup=512, epochs=60, seed=0, metrics=False)
    det.learn_many([dict(zip(NAMES, row)) for row in X[:1000]])
    return det, X


@pytest.mark.parametrize("scorer_kind", ["cosine"])
def test_the_faulty_sensor_ranks_first_for_most_flagged_records(trained, scorer_kind):
    from benchmarks.explain_rank import flagged_explanations   # the benchmark's pushes

    det, X = trained
    flagged = list(flagged_explanations(det, X[1000:1400], X[:1000].std(axis=0)))
    for why, _ in flagged:
        top = why.features[0]
        assert np.sign(top.contribution) == np.sign(top.value - top.expected)
    hits = sum(why.features[0].feature == NAMES[k] for why, k in flagged)
    assert len(flagged) > 200, len(flagged)
    assert hits / len(flagged) > 0.8, (hits, len(flagged))


def test_explanations_are_pure_and_complete(trained):
    det, X = trained
    record = dict(zip(NAMES, X[1100]))
    before = det.state()
    why = det.explain_one(record, top=8)
    assert why.score == det.score_one(record)
    assert sum(abs(f.contribution) for f in why.features) == pytest.approx(1.0)
    assert [f.value for f in why.features] == [record[f.feature] for f in why.features]
    assert det.state()["n_seen"] == before["n_seen"]
    np.testing.assert_array_equal(det.centroids, before["model"]["centroids"]["centroids"])


def test_explaining_needs_a_model_and_follows_the_invalid_policy():
    det = StreamDetector(warmup=32, epochs=2, invalid="skip", metrics=False)
    det.learn_one([1.0, 2.0])
    with pytest.raises(NotReadyError, match="warming up"):
        det.explain_one([1.0, 2.0])
    det.learn_many(np.random.default_rng(0).normal(size=(40, 2)))
    assert det.explain_one([float("nan"), 1.0]) is None
    assert det.explain_one([0.0, 1.0], top=1).features[0].feature in ("[0]", "[1]")


@pytest.mark.parametrize("scorer", ["reconstruction", "toll"])
def test_reconstruction_scorers_explain_by_reconstruction_error(scorer):
    X, _ = make_sensor_stream(n_records=700, n_sensors=6, anomaly_fraction=0.001, seed=2)
    det = StreamDetector(warmup=512, epochs=40, scorer=scorer, seed=0, metrics=False)
    det.learn_many(X[:600])
    hits = 0
    for k in range(6):
        faulty = X[650].copy()
        faulty[k] += 10 * X[:600, k].std()
        hits += det.explain_one(faulty, top=1).features[0].feature == f"[{k}]"
    assert hits >= 4, hits  # a reconstruction can partly follow a correlated sensor
    why = det.explain_one(X[650])
    assert why.centroid_term is None and why.neighbour_term is None  # not the cosine score


def test_the_explanation_splits_the_score_into_its_terms(trained):
    det, X = trained
    for row in X[1000:1100]:
        why = det.explain_one(dict(zip(NAMES, row)))
        assert 0.0 <= why.neighbour_term <= 2.0 and 0.0 <= why.centroid_term <= 2.0
        if not why.guarded:   # the score blends the terms with the default weight 0.75
            assert why.score == pytest.approx(0.25 * why.centroid_term
                                              + 0.75 * why.neighbour_term, abs=1e-9)
    far = dict(zip(NAMES, X[1000] + 100 * X[:1000].std(axis=0)))
    why = det.explain_one(far)
    assert why.guarded and why.is_anomaly and why.score > 2.0
    plain = StreamDetector(warmup=512, epochs=20, seed=0, metrics=False, neighbours=0)
    plain.learn_many(X[:600])
    why = plain.explain_one(X[650])
    assert why.neighbour_term is None and why.score == pytest.approx(why.centroid_term)
