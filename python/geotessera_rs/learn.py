"""Learning from embeddings: heads trained on arrays, model files, and maps over regions.

Arrays in, arrays out::

    >>> from geotessera_rs import learn
    >>> model = learn.train(X, y, head="rf", groups=polygon_ids)   # X: (n, 128) float32
    >>> model.report["spatial"]["outcome"]["summary"]               # spatial CV beside random
    >>> model.predict(X_new), model.predict_proba(X_new)
    >>> model.save("rf.safetensors")

and the same file outputs as the ``tessera`` command line (``labels``, ``predict``,
``similar``, ``cluster``), each returning the report as a dict.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import _native

_Path = Union[str, "os.PathLike[str]"]
BBox = tuple[float, float, float, float]

__all__ = ["Model", "train", "labels", "predict", "similar", "cluster"]


class Model:
    """A trained head: classes (or values), its metadata and its cross-validation."""

    def __init__(self, native: _native.NativeModel, report: Optional[dict[str, Any]] = None):
        self._native = native
        self.report: dict[str, Any] = report or {}

    @classmethod
    def load(cls, path: _Path) -> "Model":
        """Reads a ``.safetensors`` model written by ``tessera train`` or :meth:`save`."""
        return cls(_native.NativeModel.load(os.fspath(path)))

    def save(self, path: _Path) -> None:
        """Writes the model (safetensors, metadata key ``tessera``)."""
        self._native.save(os.fspath(path))

    @property
    def classes_(self) -> list[str]:
        """Class names in index order (empty for a regression)."""
        return [name for _, name, _ in self._native.classes]

    @property
    def metadata(self) -> dict[str, Any]:
        """The model's metadata: head, hyper-parameters, classes, features, provenance, CV."""
        return json.loads(self._native.metadata)

    @property
    def n_features_in_(self) -> int:
        return self._native.dims

    def _run(self, X: Any) -> tuple[Optional[np.ndarray], np.ndarray]:
        x = np.ascontiguousarray(X, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"X must be 2-D (n, {self._native.dims}), got shape {x.shape}")
        idx, out = self._native.predict(x)
        return (None if idx is None else np.asarray(idx)), np.asarray(out)

    def predict(self, X: Any) -> np.ndarray:
        """Class names (an object array) or values (float64) for rows of ``X``."""
        idx, out = self._run(X)
        if idx is None:
            return out
        names = np.array(self.classes_, dtype=object)
        return names[idx]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Per-class probabilities, ``(n, classes)``, columns in :attr:`classes_` order."""
        idx, out = self._run(X)
        if idx is None:
            raise ValueError("this model predicts values, not classes")
        return out


def train(
    X: Any,
    y: Sequence[Any],
    head: str = "rf",
    *,
    groups: Optional[Sequence[int]] = None,
    cv: str = "auto",
    folds: int = 5,
    task: str = "auto",
    dataset_version: Optional[str] = "v1.1",
    **hyper: Any,
) -> Model:
    """Trains ``head`` (centroid, knn, logreg, rf, mlp) on ``X`` (n x d) and labels ``y``.

    ``cv``: ``auto`` (grouped by ``groups`` when given, else random folds), ``random``,
    ``group``, ``none``; the report (spatial and random scores) is ``Model.report``.
    Hyper-parameters as keywords: ``k``, ``metric``, ``weights``, ``C``, ``class_weight``,
    ``trees``, ``max_depth``, ``max_features``, ``hidden``, ``epochs``, ``lr``, ``seed``,
    ``tol`` and ``max_iter`` (logistic regression; ``tol`` also stops the MLP).
    ``task="regression"`` (or numeric ``y`` with more than 20 distinct values) fits values.
    """
    x = np.ascontiguousarray(X, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {x.shape}")
    yy = np.asarray(y)
    regression = task == "regression" or (
        task == "auto" and yy.dtype.kind in "fiu" and len(np.unique(yy)) > 20
    )
    kw: dict[str, Any] = {}
    if regression:
        kw["values"] = [float(v) for v in yy]
    else:
        kw["labels"] = [str(v) for v in yy]
    native, report = _native.learn_fit(
        x,
        head,
        groups=None if groups is None else [int(g) for g in groups],
        cv=cv,
        folds=folds,
        dataset_version=dataset_version,
        hyper=hyper or None,
        **kw,
    )
    return Model(native, json.loads(report))


def _fs(v: Optional[_Path]) -> Optional[str]:
    return None if v is None else os.fspath(v)


def labels(labels: _Path, year: int, output: _Path, **kw: Any) -> dict[str, Any]:
    """``tessera labels``: a label file into a training table; returns the report."""
    if "tiles_dir" in kw:
        kw["tiles_dir"] = _fs(kw["tiles_dir"])
    return json.loads(_native.learn_labels(os.fspath(labels), year, os.fspath(output), **kw))


def predict(model: _Path, bbox: BBox, year: int, output: _Path, **kw: Any) -> dict[str, Any]:
    """``tessera predict`` over ``bbox``: the class map (and sidecars); returns the report."""
    if "tiles_dir" in kw:
        kw["tiles_dir"] = _fs(kw["tiles_dir"])
    return json.loads(
        _native.learn_predict(os.fspath(model), tuple(bbox), year, os.fspath(output), **kw)
    )


def _examples(v: Any) -> tuple[list[tuple[float, float]], Optional[str]]:
    """(lon, lat) pairs as a list, or a label file (points or polygons) as its path."""
    if isinstance(v, (str, os.PathLike)):
        return [], os.fspath(v)
    return [(float(a), float(b)) for a, b in v], None


def similar(
    positives: Union[Sequence[tuple[float, float]], _Path],
    bbox: BBox,
    year: int,
    output: _Path,
    **kw: Any,
) -> dict[str, Any]:
    """``tessera similar``: cosine similarity of ``bbox``'s pixels to the ``positives``
    (and ``negatives=``), each either (lon, lat) pairs or a label file of points or
    polygons (a polygon stands for the pixels whose centres it holds; ``examples_crs=``
    for files that state no CRS); returns the report (groups, top pixels)."""
    if "tiles_dir" in kw:
        kw["tiles_dir"] = _fs(kw["tiles_dir"])
    pts, kw["positive_file"] = _examples(positives)
    if kw.get("negatives") is not None:
        kw["negatives"], kw["negative_file"] = _examples(kw["negatives"])
    return json.loads(_native.learn_similar(pts, tuple(bbox), year, os.fspath(output), **kw))


def cluster(bbox: BBox, year: int, output: _Path, **kw: Any) -> dict[str, Any]:
    """``tessera cluster``: k-means (``k=``) over ``bbox`` as a class map; returns the report."""
    if "tiles_dir" in kw:
        kw["tiles_dir"] = _fs(kw["tiles_dir"])
    return json.loads(_native.learn_cluster(tuple(bbox), year, os.fspath(output), **kw))
