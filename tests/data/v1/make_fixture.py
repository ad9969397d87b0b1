"""Write a detector file with the format-1 code (before the state refactor) and the scores
a never-stopped detector gives on the rest of the stream.

Run it with streamae 0.1 (the commit before the state refactor, e313f7c) from the
repository root: ``python tests/data/v1/make_fixture.py``. It is not a test module:
nothing runs on import.
"""


def main() -> None:
    import json, numpy as np
    from streamae import StreamDetector
    from streamae.datasets import make_sensor_stream
    X, _ = make_sensor_stream(n_records=700, n_sensors=6, drift_at=0.5, seed=3)
    cfg = dict(warmup=64, epochs=20, n_clusters=3, seed=0, retrain_every=150, retrain_window=200,
               min_retrain_records=64, drift="adwin")
    det = StreamDetector(name="fixture", **cfg)
    for x in X[:400]:
        det.process_one(x)
    v_at_save = det.model_version
    det.save("tests/data/v1/detector_dense_v1.npz")
    rest = [det.process_one(x) for x in X[400:]]
    json.dump({"config": cfg, "stream": {"n_records": 700, "n_sensors": 6, "drift_at": 0.5, "seed": 3},
               "saved_after": 400, "model_version_at_save": v_at_save,
               "scores": [r.score for r in rest], "model_versions": [r.model_version for r in rest]},
              open("tests/data/v1/detector_dense_v1.json", "w"))
    print(det.model_version, len(rest), det.retrain_log[-1])


if __name__ == "__main__":
    main()
