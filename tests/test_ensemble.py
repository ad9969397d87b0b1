"""ensemble: several autoencoders read as one encoder (streamae.ensemble)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from streamae import StreamDetector
from streamae.datasets import make_sensor_stream
from streamae.ensemble import FrozenEnsemble
from streamae.frozen import FrozenAutoEncoder


def member(rng, n_features=5, latent=3, normalize=True):
    enc = [(rng.normal(size=(n_features, latent)).astype(np.float32),
            rng.normal(size=latent).astype(np.float32))]
    dec = [(rng.normal(size=(latent, n_features)).astype(np.float32),
            np.zeros(n_features, np.float32))]
    return FrozenAutoEncoder(enc, dec, normalize=normalize)


@pytest.fixture(scope="module")
def stream():
    X, y = make_sensor_stream(n_records=900, n_sensors=6, anomaly_fraction=0.05, seed=4)
    return X, y


def test_joint_cosine_is_the_mean_of_the_members_cosines():
    rng = np.random.default_rng(1)
    ens = FrozenEnsemble([member(rng) for _ in range(3)])
    X = rng.normal(size=(50, 5))
    joint = ens.encode(X)
    assert joint.shape == (50, 9) and joint.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(joint, axis=1), 1.0, atol=1e-6)
    units = [m.normalized_codes(X) for m in ens.members]
    expected = np.mean([u[:25] @ u[25:].T for u in units], axis=0)
    np.testing.assert_allclose(joint[:25] @ joint[25:].T, expected, atol=1e-6)
    one = ens.encode(X[7])                                   # one record, the hot path
    np.testing.assert_allclose(one, joint[7], atol=1e-7)


def test_stacked_encoder_equals_the_members_one_by_one():
    rng = np.random.default_rng(3)

    def deep_member():
        shapes = [(6, 8), (8, 5), (5, 3)]
        enc = [(rng.normal(size=s).astype(np.float32), rng.normal(size=s[1]).astype(np.float32))
               for s in shapes]
        dec = [(rng.normal(size=(3, 6)).astype(np.float32), np.zeros(6, np.float32))]
        return FrozenAutoEncoder(enc, dec, normalize=True)

    ens = FrozenEnsemble([deep_member() for _ in range(4)])
    X = rng.normal(size=(20, 6))
    expected = np.concatenate([m.normalized_codes(X) for m in ens.members], axis=1) / 2.0
    np.testing.assert_allclose(ens.encode(X), expected, atol=1e-6)
    np.testing.assert_allclose(ens.encode(X[3]), expected[3], atol=1e-6)


def test_decode_averages_the_members_reconstructions():
    rng = np.random.default_rng(2)
    ens = FrozenEnsemble([member(rng), member(rng)])
    X = rng.normal(size=(4, 5))
    codes, recon = ens.reconstruct(X)
    expected = np.mean([m.decode(m.encode(X)) for m in ens.members], axis=0)
    np.testing.assert_allclose(recon, expected, atol=1e-6)


@pytest.mark.parametrize("members, message", [
    (lambda rng: [member(rng)], "at least 2 members"),
    (lambda rng: [member(rng), member(rng, n_features=4)], "different numbers of features"),
    (lambda rng: [member(rng), member(rng, normalize=False)], "l2-normalized"),
])
def test_members_that_cannot_be_read_as_one_encoder_are_refused(members, message):
    with pytest.raises(ValueError, match=message):
        FrozenEnsemble(members(np.random.default_rng(0)))


@pytest.mark.parametrize("setting", [{"scorer": "reconstruction"}, {"scorer": "toll"},
                                     {"normalize": "none"}])
def test_ensemble_needs_the_cosine_scorer_on_l2_codes(setting):
    with pytest.raises(ValidationError, match="ensemble=3 averages cosines"):
        StreamDetector(ensemble=3, **setting)


def test_first_member_is_the_single_detectors_network(stream):
    X, _ = stream
    single = StreamDetector(warmup=64, epochs=5, n_clusters=2, metrics=False)
    trio = StreamDetector(warmup=64, epochs=5, n_clusters=2, ensemble=3, metrics=False)
    single.learn_many(X[:64])
    trio.learn_many(X[:64])
    alone = single.state()["model"]["autoencoder"]
    members = trio.state()["model"]["autoencoder"]["members"]
    assert len(members) == 3 and trio.state()["model"]["autoencoder"]["kind"] == "ensemble"
    assert all(np.array_equal(a["w"], b["w"])
               for a, b in zip(alone["encoder"], members[0]["encoder"]))
    assert not np.array_equal(members[0]["encoder"][0]["w"], members[1]["encoder"][0]["w"])
    assert trio.centroids.shape[1] == 3 * single.centroids.shape[1]


def test_an_ensemble_detector_saves_loads_and_detects(stream, tmp_path):
    X, y = stream
    det = StreamDetector(warmup=200, epochs=20, ensemble=3, seed=0, metrics=False)
    scores = np.array([det.process_one(x).score for x in X[:600]])
    path = tmp_path / "ens.npz"
    det.save(path)
    twin = StreamDetector.load(path, metrics=False)
    assert [twin.process_one(x) for x in X[600:]] == [det.process_one(x) for x in X[600:]]
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(y[200:600], scores[200:]) > 0.8
