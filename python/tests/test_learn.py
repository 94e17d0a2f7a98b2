"""geotessera_rs.learn: heads on arrays checked against scikit-learn, model files read
with the safetensors package, and the map verbs over the synthetic mirror."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import BBOX, YEAR
from geotessera_rs import learn
from geotessera_rs.errors import UsageError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.neighbors import KNeighborsClassifier


def blobs(n=600, d=16, c=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (c, d))
    y = rng.integers(0, c, n)
    x = (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32)
    return x, np.array([f"class_{v}" for v in y])


def test_logistic_regression_matches_sklearn_and_round_trips_through_a_file(tmp_path):
    x, y = blobs()
    m = learn.train(x, y, head="logreg", C=1.0, tol=1e-10, max_iter=10000, cv="random")
    sk = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(x, y)
    assert m.classes_ == list(sk.classes_)
    p = m.predict_proba(x)
    assert np.abs(p - sk.predict_proba(x)).max() < 1e-4
    assert (m.predict(x) == sk.predict(x)).mean() > 0.999
    # Cross-validation is in the report: the random split scored near perfect.
    summary = dict((k, v) for k, v, _ in m.report["spatial"]["outcome"]["summary"])
    assert summary["accuracy"] > 0.95
    path = tmp_path / "m.safetensors"
    m.save(path)
    again = learn.Model.load(path)
    # The file stores float32 coefficients.
    assert np.abs(again.predict_proba(x) - p).max() < 1e-5
    from safetensors import safe_open
    from safetensors.numpy import load_file

    tensors = load_file(str(path))
    meta = json.loads(safe_open(str(path), "np").metadata()["tessera"])
    assert meta["head"] == "logreg" and tensors["logreg.coef"].shape == (3, 16)


def test_knn_predictions_equal_sklearn():
    x, y = blobs(seed=1)
    xt, _ = blobs(seed=2)
    m = learn.train(x, y, head="knn", k=5, cv="none")
    sk = KNeighborsClassifier(5, algorithm="brute").fit(x, y)
    assert (m.predict(xt) == sk.predict(xt)).all()


def test_bad_arrays_raise_the_usage_error():
    x, y = blobs()
    with pytest.raises(UsageError):
        learn.train(x, y, head="nope")
    with pytest.raises(ValueError):
        learn.train(x[:, 0], y)
    m = learn.train(x, y, head="centroid", cv="none")
    with pytest.raises(UsageError):
        m.predict(np.zeros((2, 5), dtype=np.float32))


def test_maps_over_the_synthetic_mirror(mirror_dir, tmp_path):
    # Labels: the truth points; the training table; a forest; its class map.
    truth = mirror_dir / "truth" / str(YEAR) / "labels.geojson"
    table = tmp_path / "train.parquet"
    tiles = tmp_path / "tiles"
    rep = learn.labels(truth, YEAR, table, mirror=str(mirror_dir), tiles_dir=tiles)
    assert rep["rows"] > 100 and rep["task"] == "classification"
    import pyarrow.parquet as pq

    t = pq.read_table(table).to_pandas()
    emb = t[[f"emb_{i}" for i in range(128)]].to_numpy(np.float32)
    model = learn.train(emb, t["label"].to_numpy(), head="rf", trees=50, cv="none")
    acc = accuracy_score(t["label"], model.predict(emb))
    assert acc > 0.9
    path = tmp_path / "rf.safetensors"
    model.save(path)
    out = tmp_path / "classes.tif"
    r = learn.predict(path, BBOX, YEAR, out, mirror=str(mirror_dir), tiles_dir=tiles, png=True)
    assert r["mapped"] > 0 and len(r["classes"]) == len(model.classes_)
    info = json.loads(
        subprocess.run(
            ["gdalinfo", "-json", r["files"][0]["path"]], check=True, capture_output=True
        ).stdout
    )
    assert info["bands"][0]["colorInterpretation"] == "Palette"
    # Similarity to a water label and clusters.
    water = [
        f["geometry"]["coordinates"]
        for f in json.load(open(truth))["features"]
        if f["properties"]["class_name"] == "water"
    ][:3]
    s = learn.similar(
        water, BBOX, YEAR, tmp_path / "sim.tif", mirror=str(mirror_dir), tiles_dir=tiles, top=10
    )
    assert len(s["files"][0]["top"]) == 10
    lo, hi, _ = s["files"][0]["value_range"]
    assert -1.0 <= lo <= hi <= 1.0
    c = learn.cluster(
        BBOX, YEAR, tmp_path / "k.tif", k=4, sample=5000, mirror=str(mirror_dir), tiles_dir=tiles
    )
    assert len(c["classes"]) == 4 and c["mapped"] == r["mapped"]
