"""Tests of the batch clustering estimator and the clustering accuracy metric."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from streamae.cluster import PAPER_HIDDEN, L2AEClustering
from streamae.conv import ConvAutoEncoder
from streamae.metrics import clustering_accuracy

# A few epochs of a tiny network: enough for every check, in milliseconds.
TINY = dict(hidden=(16,), latent_dim=4, epochs=5, n_init=2)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, n_features=6, cluster_std=0.5, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(blobs):
    X, _ = blobs
    return L2AEClustering(n_clusters=3, hidden=(32,), latent_dim=4, epochs=30, seed=0).fit(X)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


# -- scikit-learn's check suite --------------------------------------------------
@parametrize_with_checks([
    L2AEClustering(n_clusters=3, **TINY),
    L2AEClustering(n_clusters=3, normalize="none", **TINY),
])
def test_sklearn_checks(estimator, check):
    # The conv encoder is left out: the suite fits data of 1 to 20 features,
    # which are not images; test_conv_* below cover it.
    check(estimator)


# -- shapes and contracts --------------------------------------------------------
def test_fit_predict_transform_shapes(blobs, fitted):
    X, _ = blobs
    assert fitted.labels_.shape == (150,)
    assert fitted.labels_.dtype == np.int64
    assert set(np.unique(fitted.labels_)) <= {0, 1, 2}
    assert fitted.cluster_centers_.shape == (3, 4)
    assert fitted.transform(X[:7]).shape == (7, 4)
    assert fitted.predict(X[:7]).shape == (7,)
    assert fitted.score_samples(X[:7]).shape == (7,)
    assert fitted.n_features_in_ == 6 and fitted.n_iter_ == 30 == len(fitted.loss_curve_)
    assert fitted.hidden_ == (32,) and fitted.image_shape_ is None


def test_transform_is_unit_norm(blobs, fitted):
    X, _ = blobs
    np.testing.assert_allclose(np.linalg.norm(fitted.transform(X), axis=1), 1.0, atol=1e-12)


def test_predict_on_training_data_gives_labels(blobs, fitted):
    X, _ = blobs
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)


def test_fit_predict_matches_labels(blobs):
    X, _ = blobs
    model = L2AEClustering(n_clusters=3, **TINY)
    np.testing.assert_array_equal(model.fit_predict(X), model.labels_)


def test_score_samples_is_max_cosine_to_the_centroids(blobs, fitted):
    X, _ = blobs
    Z = fitted.transform(X)
    C = fitted.cluster_centers_ / np.linalg.norm(fitted.cluster_centers_, axis=1, keepdims=True)
    np.testing.assert_allclose(fitted.score_samples(X), (Z @ C.T).max(axis=1), atol=1e-12)
    scores = fitted.score_samples(X)
    assert np.all(scores <= 1.0 + 1e-12) and np.all(scores >= -1.0 - 1e-12)


def test_clusters_well_separated_blobs(blobs, fitted):
    _, y = blobs
    assert clustering_accuracy(y, fitted.labels_) == 1.0


def test_same_seed_same_result_other_seed_other_codes(blobs):
    X, _ = blobs
    a = L2AEClustering(n_clusters=3, seed=3, **TINY).fit(X)
    b = L2AEClustering(n_clusters=3, seed=3, **TINY).fit(X)
    c = L2AEClustering(n_clusters=3, seed=4, **TINY).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.allclose(a.transform(X), c.transform(X))


@pytest.mark.parametrize("normalize, unit", [("l2", True), ("after", True), ("none", False)])
def test_normalize_variants(blobs, normalize, unit):
    X, _ = blobs
    model = L2AEClustering(n_clusters=3, normalize=normalize, **TINY).fit(X)
    norms = np.linalg.norm(model.transform(X), axis=1)
    assert np.allclose(norms, 1.0) == unit
    # the decoder only sees unit codes when they are normalized in training
    assert model.autoencoder_.normalize == (normalize == "l2")


def test_pickle_round_trip(blobs, fitted):
    X, _ = blobs
    twin = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(twin.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(twin.predict(X), fitted.predict(X))


# -- scaling ---------------------------------------------------------------------
def test_auto_scaling_leaves_unit_interval_data_alone(digits):
    X, _ = digits
    model = L2AEClustering(n_clusters=10, **TINY).fit(X)
    assert model.scaling_ == "none" and model.mean_ is None


def test_auto_scaling_standardises_other_data(blobs):
    X, _ = blobs
    model = L2AEClustering(n_clusters=3, **TINY).fit(X)
    assert model.scaling_ == "standard"
    np.testing.assert_allclose(model.mean_, X.mean(axis=0))
    np.testing.assert_allclose(model.scale_, X.std(axis=0))


def test_constant_feature_gets_unit_scale(blobs):
    X = np.hstack([blobs[0], np.full((150, 1), 5.0)])
    model = L2AEClustering(n_clusters=3, scaling="standard", **TINY).fit(X)
    assert model.scale_[-1] == 1.0
    assert np.isfinite(model.transform(X)).all()


# -- architectures ---------------------------------------------------------------
def test_default_hidden_widths():
    X = np.random.default_rng(0).random((20, 64))
    small = L2AEClustering(n_clusters=2, epochs=1, n_init=1).fit(X)
    assert small.hidden_ == (256, 256, 1024)
    assert PAPER_HIDDEN == (500, 500, 2000)


def test_conv_on_8x8_digits_infers_the_image_shape(digits):
    X, y = digits
    model = L2AEClustering(n_clusters=10, encoder="conv", epochs=3, n_init=2).fit(X)
    assert model.image_shape_ == (1, 8, 8) and model.hidden_ is None
    assert isinstance(model.autoencoder_, ConvAutoEncoder)
    assert model.transform(X[:5]).shape == (5, 10)
    assert model.predict(X[:5]).shape == (5,)
    np.testing.assert_allclose(np.linalg.norm(model.transform(X), axis=1), 1.0)


@pytest.mark.parametrize("shape", [(16, 16), (28, 28), (3, 10, 12)], ids=str)
def test_conv_autoencoder_restores_the_image_size(shape):
    import torch

    net = ConvAutoEncoder(shape, latent_dim=10, generator=torch.Generator().manual_seed(0))
    n = int(np.prod(shape))
    code, recon = net(torch.zeros(3, n))
    assert tuple(code.shape) == (3, 10) and tuple(recon.shape) == (3, n)


def test_conv_with_explicit_non_square_shape():
    X = np.random.default_rng(0).random((40, 48))
    model = L2AEClustering(n_clusters=2, encoder="conv", image_shape=(6, 8), epochs=2,
                           n_init=1).fit(X)
    assert model.image_shape_ == (1, 6, 8)


def test_conv_needs_image_shape_for_non_square_input():
    X = np.random.default_rng(0).random((40, 48))
    with pytest.raises(ValueError, match="48 features, which is not a square image"):
        L2AEClustering(n_clusters=2, encoder="conv", epochs=1).fit(X)
    with pytest.raises(ValueError, match=r"image_shape \(7, 7\) has 49 values, but X has 48"):
        L2AEClustering(n_clusters=2, encoder="conv", image_shape=(7, 7), epochs=1).fit(X)


# -- parameters and data errors --------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        pytest.param({"n_clusters": 0}, r"The 'n_clusters' parameter of L2AEClustering must be "
                     r"an int in the range \[1, inf\)\. Got 0 instead\.", id="n_clusters"),
        pytest.param({"normalize": "l1"}, "The 'normalize' parameter", id="normalize"),
        pytest.param({"encoder": "rnn"}, "The 'encoder' parameter", id="encoder"),
        pytest.param({"lr": 0.0}, "The 'lr' parameter", id="lr"),
        pytest.param({"scaling": "minmax"}, "The 'scaling' parameter", id="scaling"),
    ],
)
def test_bad_parameters_are_rejected_in_fit(blobs, params, match):
    model = L2AEClustering(**{**TINY, **params})  # construction never fails
    with pytest.raises(InvalidParameterError, match=match):
        model.fit(blobs[0])


@pytest.mark.parametrize("name, value", [("hidden", (16, 0)), ("hidden", ()),
                                         ("image_shape", (8,))], ids=str)
def test_bad_tuple_contents_are_rejected(blobs, name, value):
    params = {**TINY, name: value}
    with pytest.raises(ValueError, match=f"The '{name}' parameter of L2AEClustering must be"):
        L2AEClustering(n_clusters=3, **params).fit(blobs[0])


def test_fewer_samples_than_clusters():
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=10"):
        L2AEClustering(**TINY).fit(np.random.default_rng(0).random((5, 4)))


def test_wrong_number_of_features(fitted):
    with pytest.raises(ValueError, match="X has 4 features, but L2AEClustering is expecting "
                                         "6 features as input"):
        fitted.predict(np.zeros((2, 4)))


def test_pandas_feature_names_and_output(blobs):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(blobs[0], columns=[f"f{i}" for i in range(6)])
    model = L2AEClustering(n_clusters=3, **TINY).set_output(transform="pandas").fit(X)
    assert list(model.feature_names_in_) == list(X.columns)
    out = model.transform(X)
    assert list(out.columns) == [f"l2aeclustering{i}" for i in range(4)]


# -- clustering accuracy (Eq. 6) -------------------------------------------------
def test_accuracy_is_invariant_to_renaming_clusters():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    assert clustering_accuracy(y, y) == 1.0
    assert clustering_accuracy(y, np.array([5, 5, 9, 9, 1, 1, 1])) == 1.0


def test_accuracy_uses_the_best_one_to_one_mapping():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(7 / 8)
    # two clusters cannot both map to class 0
    assert clustering_accuracy([0, 0, 0, 0], [0, 0, 1, 1]) == 0.5


def test_accuracy_with_more_clusters_than_classes():
    assert clustering_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == 0.5


def test_accuracy_matches_brute_force_over_permutations():
    from itertools import permutations

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    best = max(np.mean(np.array(p)[y_pred] == y_true) for p in permutations(range(4)))
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(best)


@pytest.mark.parametrize("y_true, y_pred, match", [
    ([0, 1], [0], "y_true has 2 samples, but y_pred has 1 samples"),
    ([], [], "empty"),
    ([[0, 1]], [[0, 1]], "must be 1-D"),
], ids=["length", "empty", "2d"])
def test_accuracy_rejects_bad_input(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        clustering_accuracy(y_true, y_pred)
