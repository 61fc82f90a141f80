"""Independent numpy / scikit-learn implementations of the scoring pipeline (METHODS §5-§6) and
writers of the stores in their documented HDF5 layouts (h5py), shared by the scoring tests."""
import h5py
import numpy as np
from sklearn.linear_model import Ridge, RidgeCV


def write_features(path, ids, layers, model="model.onnx"):
    """layers: list of (name, op, array n x w). Layout of docs/feature_store.md."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "ventral-features"
        f.attrs["format_version"] = 1
        f.attrs["model"] = model
        f.attrs["model_sha256"] = "0" * 64
        f.attrs["transform"] = "none"
        f.create_dataset("stimulus_ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        g = f.create_group("layers")
        for i, (name, op, x) in enumerate(layers):
            d = g.create_dataset(f"L{i:04d}", data=x.astype(np.float32))
            d.attrs["name"] = name
            d.attrs["op"] = op
            d.attrs["index"] = i
            d.attrs["shape"] = f"{x.shape[1]}"
            d.attrs["features"] = x.shape[1]
            d.attrs["projected"] = 0


def write_brain(path, ids, responses, rois=None, subject="subj01"):
    """responses: stimuli x reps x units (NaN = missing). Layout of docs/brain_store.md."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "ventral-brain"
        f.attrs["format_version"] = 1
        f.attrs["subject"] = subject
        f.attrs["source"] = "test"
        f.create_dataset("responses", data=responses.astype(np.float32))
        f.create_dataset("stimulus_ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        n_units = responses.shape[2]
        f.create_dataset("units/id", data=np.array([f"u{i}" for i in range(n_units)], dtype=object),
                         dtype=h5py.string_dtype())
        if rois is not None:
            f.create_dataset("units/roi", data=np.array(rois, dtype=object), dtype=h5py.string_dtype())


def upper(m):
    return m[np.triu_indices(m.shape[0], 1)]


def rdm(x):
    return 1 - np.corrcoef(x)


def compare(a, b):
    return np.corrcoef(upper(a), upper(b))[0, 1]


def pearson_cols(a, b):
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def loo_predictions(x, y, alpha):
    """Explicit leave-one-out refits of ridge with an intercept: the definition GCV computes."""
    n = x.shape[0]
    out = np.empty_like(y)
    for i in range(n):
        keep = np.arange(n) != i
        out[i] = Ridge(alpha=alpha, fit_intercept=True, solver="svd").fit(x[keep], y[keep]).predict(x[i:i + 1])[0]
    return out


def fit_layer(xtr, ytr, xte, alphas, criterion):
    """Per-unit alpha by 'mse' (scikit-learn RidgeCV) or 'loo-pearson' (DeepNSD); returns
    (loo predictions at the chosen alpha, test predictions)."""
    loos = [loo_predictions(xtr, ytr, a) for a in alphas]
    if criterion == "mse":
        score = np.array([-((ytr - l) ** 2).sum(0) for l in loos])
    else:
        score = np.array([pearson_cols(l, ytr) for l in loos])
    best = np.zeros(ytr.shape[1], int)
    for k in range(1, len(alphas)):  # strictly better wins: ties keep the earlier alpha
        better = score[k] > score[best, np.arange(ytr.shape[1])]
        best[better] = k
    loo = np.empty_like(ytr)
    pred = np.empty((xte.shape[0], ytr.shape[1]))
    for k, a in enumerate(alphas):
        cols = best == k
        if cols.any():
            loo[:, cols] = loos[k][:, cols]
            pred[:, cols] = Ridge(alpha=a, fit_intercept=True, solver="svd").fit(xtr, ytr[:, cols]).predict(xte)
    if criterion == "mse":  # cross-check the chosen alphas against scikit-learn itself
        ref = RidgeCV(alphas=alphas, alpha_per_target=True).fit(xtr, ytr).alpha_
        assert np.array_equal(np.asarray(alphas)[best], ref), "reference alphas differ from scikit-learn's"
    return loo, pred
