"""Bootstrap CIs of the selected layers' encoding and predictivity scores (`ventral score
--bootstrap N`, METHODS §5, §9, §10) against numpy.

The resamples are the test stimuli drawn by vt_bootstrap_draw(seed, r, n_test): exported with
`ventral compare --bootstrap-indices-out` (the RSA bootstrap's export, the same draws) and
checked against the Philox re-implementation of synth_results. The selected layer's test
predictions are recomputed with the same ridge (the ctypes binding's vt_ridge_fit on the same
float64 inputs), and shown to be the scorer's by reproducing its stored point estimate to 1e-12.
numpy then recomputes, per resample, every unit's Pearson r on the drawn stimuli (with repeats),
their median (default protocol, predictivity) or mean (conwell2024) over the ROI's units, and the
percentile interval (numpy's linear interpolation): ci_low and ci_high must agree to 1e-9. Also: the crsa CI
equals `ventral compare --bootstrap` on the stored model RSM (one resample stream for every
metric); --threads 1 and 2 store identical CIs; --bootstrap 0 stores none; the CIs bracket the
point estimates of this well-behaved simulation."""
import csv
import io
import json
import sqlite3

import numpy as np

import scoreref
import synth_results
import vtref

args = vtref.parse_args()
ventral = vtref.import_binding(args.ventral)

v = vtref.Ventral(args.ventral)
rng = np.random.default_rng(11)
n, reps, units = 80, 3, 30
ids = [f"s{i:03d}" for i in range(n)]
latent = rng.standard_normal((n, 6))
layers = []
for i, w in enumerate([16, 40, 32, 24]):
    x = np.tanh(latent @ rng.standard_normal((6, w)) * (0.3 + 0.2 * i)) + (0.8 - 0.15 * i) * rng.standard_normal((n, w))
    layers.append((f"block{i}", "Relu", x.astype(np.float32).astype(np.float64)))
signal = latent @ rng.standard_normal((6, units))
resp = (signal[:, None, :] + 0.7 * rng.standard_normal((n, reps, units))).astype(np.float32).astype(np.float64)
rois = ["FFA"] * 12 + ["PPA"] * 18
cats = [["animal", "car", "face"][i % 3] for i in range(n)]
feat_path, brain_path = v.path("F.h5"), v.path("B.h5")
scoreref.write_features(feat_path, ids, layers)
scoreref.write_brain(brain_path, ids, resp, rois)

SEED, B, ALPHAS = 5, 400, [0.1, 1, 10, 100, 1000, 1e4]
tr, te = np.arange(n)[::2], np.arange(n)[1::2]
y = resp.mean(axis=1)  # no missing trials
n_test = len(te)


def score(db, *extra, threads=None):
    pre = ["--threads", str(threads)] if threads else []
    v.run(*pre, "score", "--features", feat_path, "--brain", brain_path, "--db", db, "--split", "odd-even",
          "--seed", SEED, "--alphas", ",".join(map(str, ALPHAS)), *extra)
    return list(csv.DictReader(io.StringIO(v.run("results", "export", "--db", db, "--format", "csv").stdout)))


def selected(rows, metric):
    return {r["roi"]: r for r in rows if r["selected"] == "1" and r["split"] == "test" and r["metric"] == metric}


def roi_units(roi):
    return np.array([r == roi or roi == "all" for r in rois])


# ---- the resamples: the RSA bootstrap's export, and the Philox re-implementation
a = rng.standard_normal((n_test, n_test))
v.run("compare", v.save("a.npy", a + a.T), v.save("b.npy", rng.standard_normal((n_test, n_test))), "--bootstrap",
      B, "--seed", SEED, "--bootstrap-indices-out", v.path("idx.npy"))
idx = np.load(v.path("idx.npy"))
vtref.check(idx.shape == (B, n_test), f"exported indices {idx.shape} == ({B}, {n_test})")
vtref.check(all(list(idx[b]) == synth_results.bootstrap_draw(SEED, b, n_test) for b in (0, 1, B - 1)),
            "exported indices = Philox draws vt_bootstrap_draw(seed, r, n_test)")


def ci_reference(pred, yte, summary, level=0.95):
    stats = [summary(scoreref.pearson_cols(pred[i], yte[i])) for i in idx]
    return np.percentile(stats, [50 * (1 - level), 50 * (1 + level)])


def check_cis(rows, metric, predict, summary, what):
    """predict(roi) -> the selected layer's test predictions of the ROI's units (n_test x units)."""
    sel = selected(rows, metric)
    vtref.check(sorted(sel) == ["FFA", "PPA", "all"], f"{what}: selected {metric} rows for every ROI")
    est, est_ref, ci, ci_ref = [], [], [], []
    for roi, r in sorted(sel.items()):
        pred, yte = predict(int(r["layer_index"]), roi)
        est.append(float(r["value"]))
        est_ref.append(summary(scoreref.pearson_cols(pred, yte)))
        ci.append([float(r["ci_low"]), float(r["ci_high"])])
        ci_ref.append(ci_reference(pred, yte, summary))
        vtref.check(ci[-1][0] <= est[-1] <= ci[-1][1] and ci[-1][1] - ci[-1][0] > 1e-3,
                    f"{what}: {roi}/{metric} CI {ci[-1]} brackets the test score {est[-1]}")
    vtref.check_close(f"{what}: {metric} test score from the recomputed predictions (same predictions)", est,
                      est_ref, atol=1e-12, rtol=0)
    vtref.check_close(f"{what}: {metric} CI vs numpy on the exported resamples", ci, ci_ref, atol=1e-9, rtol=0)


def ridge_predict(standardize, criterion):
    def predict(li, roi):
        x = layers[li][2]
        xtr, xte = x[tr], x[te]
        if standardize:
            mu, sd = xtr.mean(0), xtr.std(0)
            sd[sd == 0] = 1
            xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
        pred = ventral.ridge(xtr, y[tr], xte, alphas=ALPHAS, criterion=criterion)["pred"]
        u = roi_units(roi)
        return pred[:, u], y[te][:, u]
    return predict


# ---- default protocol: median over units
rows1 = score(v.path("t1.sqlite"), "--bootstrap", B, "--metrics", "crsa,versa,encoding")
check_cis(rows1, "encoding", ridge_predict(False, "mse"), np.median, "default")

# One resample stream for every metric: the crsa CI is `ventral compare --bootstrap` of the stored
# model RSM (the selected layer's test RSM) against the test brain RSM.
con = sqlite3.connect(v.path("t1.sqlite"))
for roi, r in sorted(selected(rows1, "crsa").items()):
    (blob, nn), = con.execute("SELECT upper, n FROM rsms JOIN rois ON rois.id = rsms.roi_id WHERE kind = 'crsa' "
                              "AND rois.name = ?", (roi,))
    model = np.zeros((nn, nn))
    model[np.triu_indices(nn, 1)] = np.frombuffer(blob, "<f8")
    brain = np.corrcoef(y[te][:, roi_units(roi)])
    out = v.run("compare", v.save("m.npy", model), v.save("br.npy", brain), "--bootstrap", B, "--seed", SEED,
                "--json").stdout
    boot = json.loads(out)["bootstrap"]
    vtref.check_close(f"crsa {roi}: stored CI = ventral compare --bootstrap of the stored RSM",
                      [float(r["ci_low"]), float(r["ci_high"])], [boot["ci_low"], boot["ci_high"]], atol=1e-12,
                      rtol=0)
con.close()

# ---- conwell2024: standardised features, LOO-Pearson alphas, mean over units (second-half layers)
rows = score(v.path("conwell.sqlite"), "--protocol", "conwell2024", "--bootstrap", B, "--metrics", "encoding")
check_cis(rows, "encoding", ridge_predict(True, "loo-pearson"), np.mean, "conwell2024")

# ---- predictivity: k-fold ridge predictions within the test half, median over units
import h5py  # noqa: E402
with h5py.File(brain_path, "a") as f:
    f.create_dataset("stimuli/category", data=np.array(cats, dtype=object), dtype=h5py.string_dtype())
rows = score(v.path("pred.sqlite"), "--bootstrap", B, "--metrics", "predictivity", "--folds", "4", "--folds-out",
             v.path("folds.npy"))
folds = np.load(v.path("folds.npy"))[te]


def cv_predict(li, roi):
    x, yt = layers[li][2][te], y[te]
    pred = np.empty_like(yt)
    for k in range(4):
        held = folds == k
        pred[held] = ventral.ridge(x[~held], yt[~held], x[held], alphas=ALPHAS)["pred"]
    u = roi_units(roi)
    return pred[:, u], yt[:, u]


check_cis(rows, "predictivity", cv_predict, np.median, "predictivity")

# ---- --bootstrap 0: no CI stored for any metric
rows = score(v.path("none.sqlite"), "--bootstrap", "0", "--metrics", "crsa,versa,encoding,predictivity")
sel = [r for r in rows if r["selected"] == "1" and r["split"] == "test"]
vtref.check(len(sel) == 12 and all(r["ci_low"] == "" and r["ci_high"] == "" for r in sel),
            f"--bootstrap 0: none of the {len(sel)} selected test scores has a CI")

# ---- thread-count independence of the bootstrap itself: vt_compare_columns_bootstrap through ctypes on
# a problem large enough for its parallel path (resamples x stimuli x units > 5e7). Every resample's
# statistic must be bit-identical for 1 and 2 threads, and equal numpy's to 1e-12.
import ctypes  # noqa: E402


class BootOpts(ctypes.Structure):
    _fields_ = [("resamples", ctypes.c_int64), ("seed", ctypes.c_uint64), ("level", ctypes.c_double)]


class BootCi(ctypes.Structure):
    _fields_ = [(f, ctypes.c_double) for f in ("estimate", "low", "high", "se")] + \
               [(f, ctypes.c_int64) for f in ("resamples", "valid")]


columns_bootstrap = ventral._fn("vt_compare_columns_bootstrap", ctypes.c_int, ventral._TP, ventral._TP, ctypes.c_bool,
                                ctypes.POINTER(BootOpts), ctypes.POINTER(BootCi), ctypes.c_void_p)


def columns_ci(pred, obs, mean, resamples, seed, threads):
    ventral.set_threads(threads)
    samples, ci = np.empty(resamples), BootCi()
    vp, vo = ventral._View(pred), ventral._View(obs)
    try:
        ventral._check(columns_bootstrap(vp.ptr, vo.ptr, mean, ctypes.byref(BootOpts(resamples, seed, 0.95)),
                                         ctypes.byref(ci), samples.ctypes.data))
    finally:
        vp.__exit__(), vo.__exit__()
    return ci, samples


nb, ub, kb = 100, 300, 2000
sig = rng.standard_normal((nb, ub))
pb, ob = sig + 0.8 * rng.standard_normal((nb, ub)), sig + 0.8 * rng.standard_normal((nb, ub))
ob[:, 7] = 2.5  # a constant unit: undefined r, left out of the summary
for mean, summ in [(False, np.median), (True, np.mean)]:
    (ci1, s1), (ci2, s2) = columns_ci(pb, ob, mean, kb, 9, 1), columns_ci(pb, ob, mean, kb, 9, 2)
    name = "mean" if mean else "median"
    vtref.check(np.array_equal(s1, s2) and (ci1.low, ci1.high, ci1.se) == (ci2.low, ci2.high, ci2.se),
                f"columns bootstrap ({name}): 1 and 2 threads give bit-identical resamples and CI")
    draws = [synth_results.bootstrap_draw(9, b, nb) for b in range(0, kb, 250)]
    keep = np.arange(ub) != 7
    ref = [summ(scoreref.pearson_cols(pb[d][:, keep], ob[d][:, keep])) for d in draws]
    vtref.check_close(f"columns bootstrap ({name}): resamples 0, 250, ... vs numpy on the Philox draws",
                      s1[::250], ref, atol=1e-12, rtol=0)
    vtref.check_close(f"columns bootstrap ({name}): estimate vs numpy", ci1.estimate,
                      summ(scoreref.pearson_cols(pb[:, keep], ob[:, keep])), atol=1e-12, rtol=0)
    vtref.check(ci1.resamples == kb and ci1.valid == kb and ci1.low <= ci1.estimate <= ci1.high,
                f"columns bootstrap ({name}): {ci1.valid} of {ci1.resamples} defined; CI [{ci1.low:.4f}, "
                f"{ci1.high:.4f}] brackets {ci1.estimate:.4f}")

# The scorer with --threads 1 and 2: the RSM-based cRSA CIs are bit-identical; the ridge-based metrics
# (versa, encoding, predictivity) inherit the ridge's last-bit differences across thread counts
# (OpenBLAS's threaded dgemm, docs/ridge.md), so their CIs agree to 1e-12.


def cis(threads):
    db = v.path(f"threads{threads}.sqlite")
    v.run("--threads", threads, "score", "--features", feat_path, "--brain", brain_path, "--db", db, "--split",
          "odd-even", "--bootstrap", B, "--seed", SEED, "--alphas", ",".join(map(str, ALPHAS)), "--metrics",
          "crsa,versa,encoding,predictivity", "--folds", "4")
    rows = csv.DictReader(io.StringIO(v.run("results", "export", "--db", db, "--format", "csv").stdout))
    return sorted((r["roi"], r["metric"], r["ci_low"], r["ci_high"]) for r in rows
                  if r["selected"] == "1" and r["split"] == "test")


c1, c2 = cis(1), cis(2)
vtref.check(len(c1) == 12 and [c[:2] for c in c1] == [c[:2] for c in c2] and all(c[2] and c[3] for c in c1 + c2),
            "--threads 1 and 2: a CI for every ROI and metric")
vtref.check([c for c in c1 if c[1] == "crsa"] == [c for c in c2 if c[1] == "crsa"],
            "--threads 1 and 2: identical crsa CIs")
vtref.check_close("--threads 1 vs 2: CIs of every metric", [[float(c[2]), float(c[3])] for c in c1],
                  [[float(c[2]), float(c[3])] for c in c2], atol=1e-12, rtol=0)
