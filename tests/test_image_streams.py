"""The convolutional autoencoder for image streams (``image_shape``)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from streamae import ConfigMismatchError, DetectorConfig, StreamDetector
from streamae.river import StreamAEDetector


@pytest.fixture(scope="module")
def digit_stream():
    """8x8 digits: 0-8 are normal, a few 9s are the anomalies, shuffled."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    normal = np.flatnonzero(y != 9)
    nines = rng.choice(np.flatnonzero(y == 9), 40, replace=False)
    order = rng.permutation(np.concatenate([normal, nines]))
    return X[order] / 16.0, (y[order] == 9).astype(int)


def _config(**kw):
    return DetectorConfig(**{"warmup": 256, "epochs": 20, "n_clusters": 9,
                             "image_shape": (8, 8), **kw})


def test_image_shape_selects_the_convolutional_autoencoder_and_detects(digit_stream):
    X, y = digit_stream
    det = StreamDetector(_config())
    scores = np.array([det.process_one(x).score for x in X])
    autoencoder = det.state()["model"]["autoencoder"]
    assert autoencoder["kind"] == "conv"
    assert autoencoder["arch"]["latent_dim"] == 10  # the paper's code size by default
    assert np.isfinite(scores).all()
    # Held-out digit among 9 normal ones, 20 epochs on 256 records: well above chance.
    assert roc_auc_score(y[256:], scores[256:]) > 0.7


def test_batch_and_single_record_scores_agree(digit_stream):
    X, _ = digit_stream
    det = StreamDetector(_config())
    det.learn_many(X[:300])
    batch = det.score_many(X[300:340])
    single = np.array([det.score_one(x) for x in X[300:340]])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)


def test_model_file_round_trip_resumes_exactly(digit_stream, tmp_path):
    X, _ = digit_stream
    det = StreamDetector(_config(scorer="reconstruction"))
    det.learn_many(X[:300])
    path = tmp_path / "conv.npz"
    det.save(path)
    restored = StreamDetector.load(path)
    assert restored.state()["model"]["autoencoder"]["kind"] == "conv"
    np.testing.assert_array_equal(restored.score_many(X[300:400]), det.score_many(X[300:400]))
    for x in X[400:420]:
        assert restored.process_one(x) == det.process_one(x)


def test_image_shape_that_does_not_match_the_records_says_so():
    det = StreamDetector(_config())
    with pytest.raises(ConfigMismatchError, match=r"image_shape \(8, 8\) holds 64 values but the "
                                         r"records have 63 features"):
        det.learn_one(np.zeros(63))
    assert det.n_features is None  # nothing was fixed by the refused record


@pytest.mark.parametrize("kw, message", [
    ({"image_shape": (8,)}, "image_shape must be"),
    ({"image_shape": (0, 8)}, "image_shape must be"),
    ({"image_shape": (8, 8), "hidden": (32,)}, "give one of them, not both"),
])
def test_config_refuses_impossible_image_shapes(kw, message):
    with pytest.raises(ValueError, match=message):
        DetectorConfig(**kw)


def test_river_adapter_keeps_the_pixel_order(digit_stream):
    X, _ = digit_stream
    river_det = StreamAEDetector(warmup=256, epochs=5, n_clusters=9, image_shape=(8, 8),
                                 metrics=False)
    plain = StreamDetector(_config(epochs=5))
    for x in X[:300]:
        river_det.learn_one({i: v for i, v in enumerate(x)})  # int keys: "10" < "2" as text
        plain.learn_one(x)
    record = {i: v for i, v in enumerate(X[300])}
    assert river_det.score_one(record) == pytest.approx(plain.score_one(X[300]), rel=1e-6)


def test_replay_command_takes_image_shape(digit_stream, tmp_path, monkeypatch, capsys):
    from streamae.cli import main

    monkeypatch.chdir(tmp_path)
    X, y = digit_stream
    path = tmp_path / "pixels.csv"
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    rows = [",".join([*(f"{v:.4f}" for v in x), str(label)]) for x, label in zip(X[:320], y)]
    path.write_text("\n".join([header, *rows]) + "\n")
    saved = tmp_path / "conv.npz"
    common = ["replay", str(path), "--label-column", "label",
              "--warmup", "256", "--epochs", "2", "--n-clusters", "9", "-q"]
    assert main([*common, "--image-shape", "8,8", "--save", str(saved)]) == 0
    assert StreamDetector.load(saved).state()["model"]["autoencoder"]["kind"] == "conv"
    capsys.readouterr()
    assert main([*common, "--image-shape", "9,9"]) == 2
    assert "image_shape (9, 9) holds 81 values but the records have 64 features" in \
        capsys.readouterr().err
