# scikit-learn 1.9 on the same data as tests/oracle.rs: argv[1] is the directory with
# train.csv / test.csv (label, group, emb_*), argv[2] a JSON of our results that need
# sklearn to evaluate (MLP weights, k-means initial centres). Prints one JSON object.
import json
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from sklearn.neural_network import MLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
d = sys.argv[1]
ours = json.load(open(sys.argv[2]))
tr = pd.read_csv(f"{d}/train.csv")
te = pd.read_csv(f"{d}/test.csv")
cols = [c for c in tr.columns if c.startswith("emb_")]
X = tr[cols].to_numpy(np.float32)
Xt = te[cols].to_numpy(np.float32)
y = tr["label"].to_numpy()
yt = te["label"].to_numpy()
g = tr["group"].to_numpy()
out = {}

# float64: sklearn keeps float32 input in float32 for L-BFGS, which then stops early.
X64 = X.astype(np.float64)
lr = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(X64, y)


def objective(W, b, X, y, C):
    Z = X.astype(np.float64) @ W.T + b
    Z -= Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z).sum(axis=1))
    loss = (lse - Z[np.arange(len(y)), y]).sum()
    return 0.5 * (W * W).sum() + C * loss


def grad_max(W, b, X, y, C):
    Z = X.astype(np.float64) @ W.T + b
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1
    gW = W + C * P.T @ X.astype(np.float64)
    return float(np.abs(gW).max() / (C * len(y)))


lr_obj = objective(lr.coef_, lr.intercept_, X, y, 0.5)
oW = np.array(ours["logreg_coef"]).reshape(lr.coef_.shape)
ob = np.array(ours["logreg_intercept"])
out["logreg_objective"] = {
    "sklearn": lr_obj,
    "ours": objective(oW, ob, X, y, 0.5),
    "sklearn_grad": grad_max(lr.coef_, lr.intercept_, X, y, 0.5),
    "ours_grad": grad_max(oW, ob, X, y, 0.5),
}
out["logreg"] = {
    "coef": lr.coef_.tolist(),
    "intercept": lr.intercept_.tolist(),
    "proba": lr.predict_proba(Xt.astype(np.float64)).tolist(),
    "pred": lr.predict(Xt.astype(np.float64)).tolist(),
}
m2 = y < 2
lb = LogisticRegression(C=2.0, tol=1e-10, max_iter=10000).fit(X64[m2], y[m2])
out["logreg_binary"] = {
    "coef": lb.coef_.tolist(),
    "intercept": lb.intercept_.tolist(),
    "proba": lb.predict_proba(Xt.astype(np.float64)).tolist(),
}
cw = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000, class_weight="balanced").fit(X64, y)
out["logreg_balanced"] = {"coef": cw.coef_.tolist(), "intercept": cw.intercept_.tolist()}

out["knn"] = {}
for metric in ["euclidean", "cosine"]:
    for weights in ["uniform", "distance"]:
        kn = KNeighborsClassifier(
            n_neighbors=7, algorithm="brute", metric=metric, weights=weights
        ).fit(X, y)
        dist, idx = kn.kneighbors(Xt)
        out["knn"][f"{metric}-{weights}"] = {
            "pred": kn.predict(Xt).tolist(),
            "proba": kn.predict_proba(Xt).tolist(),
            "dist": dist.tolist(),
            "idx": idx.tolist(),
        }
nc = NearestCentroid().fit(X, y)
out["centroid"] = {"centroids": nc.centroids_.tolist(), "pred": nc.predict(Xt).tolist()}

c0 = np.array(ours["kmeans_init"], dtype=np.float64)
km = KMeans(n_clusters=len(c0), init=c0, n_init=1, algorithm="lloyd", tol=0).fit(
    X.astype(np.float64)
)
out["kmeans_init"] = {
    "labels": km.labels_.tolist(),
    "centers": km.cluster_centers_.tolist(),
    "inertia": float(km.inertia_),
}
out["kmeans_pp"] = float(
    KMeans(n_clusters=5, n_init=10, random_state=0).fit(X.astype(np.float64)).inertia_
)

yp = np.array(ours["metric_pred"])
yt2 = np.array(ours["metric_truth"])
labels = sorted(set(yt2) | set(yp))
p, r, f, s = metrics.precision_recall_fscore_support(yt2, yp, labels=labels, zero_division=0)
out["metrics"] = {
    "labels": [int(v) for v in labels],
    "accuracy": metrics.accuracy_score(yt2, yp),
    "balanced": metrics.balanced_accuracy_score(yt2, yp),
    "macro_f1": metrics.f1_score(yt2, yp, average="macro", zero_division=0),
    "weighted_f1": metrics.f1_score(yt2, yp, average="weighted", zero_division=0),
    "kappa": metrics.cohen_kappa_score(yt2, yp),
    "precision": p.tolist(),
    "recall": r.tolist(),
    "f1": f.tolist(),
    "iou": metrics.jaccard_score(yt2, yp, labels=labels, average=None, zero_division=0).tolist(),
    "confusion": metrics.confusion_matrix(yt2, yp, labels=labels).tolist(),
}
vt = np.array(ours["value_truth"])
vp = np.array(ours["value_pred"])
out["regression"] = {
    "r2": metrics.r2_score(vt, vp),
    "rmse": float(np.sqrt(metrics.mean_squared_error(vt, vp))),
    "mae": metrics.mean_absolute_error(vt, vp),
}

out["groupkfold"] = [0] * len(g)
for f_, (_, test) in enumerate(GroupKFold(n_splits=5).split(X, y, g)):
    for i in test:
        out["groupkfold"][int(i)] = f_
out["sgkf"] = [0] * len(g)
for f_, (_, test) in enumerate(StratifiedGroupKFold(n_splits=5).split(X, y, g)):
    for i in test:
        out["sgkf"][int(i)] = f_

accs = []
for seed in range(5):
    rf = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(X, y)
    accs.append(metrics.accuracy_score(yt, rf.predict(Xt)))
out["rf"] = {"mean": float(np.mean(accs)), "std": float(np.std(accs))}
v = tr["value"].to_numpy()
vt_ = te["value"].to_numpy()
r2s = [
    metrics.r2_score(
        vt_, RandomForestRegressor(n_estimators=100, random_state=s, n_jobs=1).fit(X, v).predict(Xt)
    )
    for s in range(3)
]
out["rf_reg"] = {"mean": float(np.mean(r2s))}

mw = ours["mlp"]
mean = np.array(mw["mean"], np.float32)
std = np.array(mw["std"], np.float32)
Z = (Xt - mean) / std
mlp = MLPClassifier(hidden_layer_sizes=tuple(len(b) for b in mw["b"][:-1]), max_iter=1).fit(
    (X - mean) / std, y
)
mlp.coefs_ = [np.array(w, np.float64) for w in mw["w"]]
mlp.intercepts_ = [np.array(b, np.float64) for b in mw["b"]]
out["mlp_forward"] = mlp.predict_proba(Z.astype(np.float64)).tolist()
maccs = []
for seed in range(5):
    m = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=200, random_state=seed).fit(
        (X - mean) / std, y
    )
    maccs.append(metrics.accuracy_score(yt, m.predict(Z)))
out["mlp_train"] = {"mean": float(np.mean(maccs)), "std": float(np.std(maccs))}
print(json.dumps(out, default=float))
