"""`ventral score` against an independent numpy / scikit-learn implementation of METHODS §6:
the conwell2024 protocol (odd/even split, train-standardised features, 7 alphas with the
LOO-Pearson criterion, mean over voxels, second-half layers, cRSA / veRSA / encoding, layer
selection on train) and the default protocol's MSE criterion with an odd/even split. Every
train and test score and every selected layer must agree to 1e-6."""
import csv
import io
import os

import numpy as np

import scoreref
import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
rng = np.random.default_rng(7)
n, reps, units = 36, 3, 24
ids = [f"img{i:03d}" for i in range(n)]
latent = rng.standard_normal((n, 5))
layers = []
for i, w in enumerate([20, 60, 45, 30]):
    mix = rng.standard_normal((5, w))
    x = np.tanh(latent @ mix * (0.3 + 0.3 * i)) + (0.9 - 0.2 * i) * rng.standard_normal((n, w))
    layers.append((f"block{i}", "Relu", x.astype(np.float32).astype(np.float64)))
signal = latent @ rng.standard_normal((5, units))
resp = signal[:, None, :] + 0.8 * rng.standard_normal((n, reps, units))
resp[rng.random((n, reps)) < 0.08] = np.nan
resp[:, 0, :][np.all(np.isnan(resp), axis=(1, 2))] = 0.0  # every stimulus keeps one trial
resp = resp.astype(np.float32).astype(np.float64)
rois = ["FFA"] * 10 + ["PPA"] * 14
# The brain lists stimuli in another order than the features: matching is by id.
order = rng.permutation(n)
feat_path = v.path("F.h5")
scoreref.write_features(feat_path, [ids[i] for i in order], [(a, b, x[order]) for a, b, x in layers])
brain_path = v.path("B.h5")
scoreref.write_brain(brain_path, ids, resp, rois)


def run_scores(db, *extra, brain=brain_path):
    v.run("score", "--features", feat_path, "--brain", brain, "--db", db, "--bootstrap", "0", *extra)
    out = v.run("results", "export", "--db", db, "--format", "csv").stdout
    return list(csv.DictReader(io.StringIO(out)))


def reference(alphas, criterion, standardize, mean, first_layer, responses=resp):
    y = np.nanmean(responses, axis=1)
    tr, te = np.arange(n)[::2], np.arange(n)[1::2]
    ref = {}
    for li in range(first_layer, len(layers)):
        x = layers[li][2]
        xtr, xte = x[tr], x[te]
        if standardize:
            mu, sd = xtr.mean(0), xtr.std(0)
            sd[sd == 0] = 1
            xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
        loo, pred = scoreref.fit_layer(xtr, y[tr], xte, alphas, criterion)
        for roi in ["FFA", "PPA", "all"]:
            u = np.array([r == roi or roi == "all" for r in rois])
            ytr, yte = y[tr][:, u], y[te][:, u]
            summ = np.mean if mean else np.median
            ref[(li, roi, "crsa")] = (scoreref.compare(scoreref.rdm(xtr if not standardize else x[tr]), scoreref.rdm(ytr)),
                                      scoreref.compare(scoreref.rdm(x[te]), scoreref.rdm(yte)))
            ref[(li, roi, "versa")] = (scoreref.compare(scoreref.rdm(loo[:, u]), scoreref.rdm(ytr)),
                                       scoreref.compare(scoreref.rdm(pred[:, u]), scoreref.rdm(yte)))
            ref[(li, roi, "encoding")] = (summ(scoreref.pearson_cols(loo[:, u], ytr)),
                                          summ(scoreref.pearson_cols(pred[:, u], yte)))
    return ref


def check_against(rows, ref, what, metrics=("crsa", "versa", "encoding")):
    ref = {k: x for k, x in ref.items() if k[2] in metrics}
    got = {}
    for r in rows:
        key = (int(r["layer_index"]), r["roi"], r["metric"])
        got.setdefault(key, [np.nan, np.nan, 0])
        got[key][0 if r["split"] == "train" else 1] = float(r["value"])
        if r["split"] == "test":
            got[key][2] = int(r["selected"])
    vtref.check(set(got) == set(ref), f"{what}: scored (layer, roi, metric) set {sorted(got)} == {sorted(ref)}")
    keys = sorted(set(got) & set(ref))
    vtref.check_close(f"{what}: train scores", [got[k][0] for k in keys], [ref[k][0] for k in keys], atol=1e-6, rtol=1e-6)
    vtref.check_close(f"{what}: test scores", [got[k][1] for k in keys], [ref[k][1] for k in keys], atol=1e-6, rtol=1e-6)
    for roi in ["FFA", "PPA", "all"]:
        for metric in metrics:
            cand = [k for k in ref if k[1] == roi and k[2] == metric]
            best = max(cand, key=lambda k: (ref[k][0], -k[0]))
            chosen = [k for k in cand if k in got and got[k][2] == 1]
            vtref.check(chosen == [best], f"{what}: {roi}/{metric} selected {chosen}, reference {best}")


conwell = run_scores(v.path("conwell.sqlite"), "--protocol", "conwell2024")
check_against(conwell, reference([1e-1, 1, 10, 1e2, 1e3, 1e4, 1e5], "loo-pearson", True, True, 2), "conwell2024")

default = run_scores(v.path("default.sqlite"), "--split", "odd-even", "--alphas", "0.1,1,10,100,1000")
check_against(default, reference([0.1, 1, 10, 100, 1000], "mse", False, False, 0), "default (odd-even)")

# Units whose means spread far more than their stimulus-driven responses (1000 vs ~1; strongly
# regularised in the reference): every stimulus's predictions share those means, so veRSA's RSMs
# resolve the stimulus part only from the predictions at full float64 precision (rounded to
# float32 first, veRSA moves by up to 2e-3 here).
offset_resp = (resp + 1e3 * rng.random(units)).astype(np.float32).astype(np.float64)
scoreref.write_brain(v.path("B_offset.h5"), ids, offset_resp, rois)
offset = run_scores(v.path("offset.sqlite"), "--split", "odd-even", "--alphas", "10,100,1000,10000",
                    brain=v.path("B_offset.h5"))
check_against(offset, reference([10, 100, 1000, 10000], "mse", False, False, 0, offset_resp), "unit means 1000x apart")

# Without encoding, veRSA takes the test predictions' RSMs from their factors (the ridge basis and
# the test design: vt_rsm_pearson_factored) and never forms the predictions. Same references, and
# the same values as the runs above that formed them, for both the plain and the offset units.
for name, brain, alphas, prev, responses in [("default", brain_path, [0.1, 1, 10, 100, 1000], default, resp),
                                              ("offset", v.path("B_offset.h5"), [10, 100, 1000, 10000], offset,
                                               offset_resp)]:
    fact = run_scores(v.path(f"{name}_factored.sqlite"), "--split", "odd-even", "--alphas",
                      ",".join(map(str, alphas)), "--metrics", "crsa,versa", brain=brain)
    check_against(fact, reference(alphas, "mse", False, False, 0, responses), f"{name}, factored veRSA",
                  metrics=("crsa", "versa"))
    key = lambda r: (r["layer_index"], r["roi"], r["split"])
    formed = {key(r): float(r["value"]) for r in prev if r["metric"] == "versa"}
    factored = {key(r): float(r["value"]) for r in fact if r["metric"] == "versa"}
    vtref.check(formed.keys() == factored.keys(), f"{name}: the same veRSA rows factored and formed")
    vtref.check_close(f"{name}: veRSA factored vs formed", [factored[k] for k in sorted(formed)],
                      [formed[k] for k in sorted(formed)], atol=1e-10, rtol=0)

# Scoring again into the same database adds a second run with identical values (determinism)
# and no duplicated row within a run.
again = run_scores(v.path("default.sqlite"), "--split", "odd-even", "--alphas", "0.1,1,10,100,1000")
runs = sorted({r["run_id"] for r in again})
key = lambda r: (r["layer_index"], r["roi"], r["metric"], r["split"])
first = {key(r): r["value"] for r in again if r["run_id"] == runs[0]}
second = {key(r): r["value"] for r in again if r["run_id"] == runs[-1]}
vtref.check(len(runs) == 2 and first == second and len(first) == len(default) and len(again) == 2 * len(default),
            "a second scoring run reproduces the first exactly, without duplicates")

# Bootstrap CIs on the selected layers bracket the test score.
boot = v.run("score", "--features", feat_path, "--brain", brain_path, "--db", v.path("boot.sqlite"), "--split",
             "odd-even", "--bootstrap", "200", "--metrics", "crsa,versa,encoding").stdout
print(boot)
rows = list(csv.DictReader(io.StringIO(v.run("results", "export", "--db", v.path("boot.sqlite"), "--format",
                                             "csv").stdout)))
sel = [r for r in rows if r["selected"] == "1" and r["split"] == "test"]
vtref.check(len(sel) == 9 and all(float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"]) for r in sel),
            "bootstrap CI brackets each selected test score (crsa, versa, encoding)")

# Bad inputs.
scoreref.write_brain(v.path("B2.h5"), ids[:-1] + ["not-extracted"], resp, rois)
v.expect_error("brain stimulus missing from the features", "score", "--features", feat_path, "--brain",
               v.path("B2.h5"), "--db", v.path("missing.sqlite"), contains="not-extracted")
vtref.check(not os.path.exists(v.path("missing.sqlite")), "a brain stimulus missing from the features: no database")
v.expect_error("features file is a brain store", "score", "--features", brain_path, "--brain", brain_path, "--db",
               v.path("x.sqlite"), contains="not a ventral feature store")
v.expect_error("unknown protocol", "score", "--features", feat_path, "--brain", brain_path, "--db",
               v.path("x.sqlite"), "--protocol", "brainscore")
v.expect_error("the same store twice", "score", "--features", feat_path, "--brain", brain_path, "--brain",
               os.path.join(os.path.dirname(brain_path), ".", os.path.basename(brain_path)), "--db",
               v.path("twice.sqlite"), contains="given twice")
vtref.check(not os.path.exists(v.path("twice.sqlite")), "the same store twice: no database created")

# Neural predictivity (METHODS §10): within each half, k-fold cross-validated ridge (alpha per unit
# by scikit-learn's RidgeCV) predictions, median Pearson r over the ROI's units; folds stratified by
# the store's category column. The reference recomputes it with scikit-learn on ventral's folds.
from sklearn.linear_model import RidgeCV
import h5py
cats = np.array([["animal", "car", "face"][i % 3] for i in range(n)])
with h5py.File(brain_path, "a") as f:
    f.create_dataset("stimuli/category", data=np.array(cats, dtype=object), dtype=h5py.string_dtype())
alphas = [0.1, 1, 10, 100, 1000]
db = v.path("pred.sqlite")
v.run("score", "--features", feat_path, "--brain", brain_path, "--db", db, "--bootstrap", "0", "--split", "odd-even",
      "--metrics", "predictivity", "--folds", "3", "--folds-out", v.path("folds.npy"), "--alphas", "0.1,1,10,100,1000")
folds = np.load(v.path("folds.npy"))
rows = list(csv.DictReader(io.StringIO(v.run("results", "export", "--db", db, "--format", "csv").stdout)))
y = np.nanmean(resp, axis=1)
tr, te = np.arange(n)[::2], np.arange(n)[1::2]
for half, idx in [("train", tr), ("test", te)]:
    for c in ["animal", "car", "face"]:  # stratified: every fold holds its share of every category
        counts = np.bincount(folds[idx][cats[idx] == c], minlength=3)
        vtref.check(counts.max() - counts.min() <= 1, f"{half}: category {c} spread over folds {counts}")
ref, got = [], []
for li, (name, op, x) in enumerate(layers):
    for half, idx in [("train", tr), ("test", te)]:
        pred = np.empty((len(idx), units))
        for k in range(3):
            held = folds[idx] == k
            model = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x[idx][~held], y[idx][~held])
            pred[held] = model.predict(x[idx][held])
        for roi in ["FFA", "PPA", "all"]:
            u = np.array([r == roi or roi == "all" for r in rois])
            ref.append(np.median(scoreref.pearson_cols(pred[:, u], y[idx][:, u])))
            got.append([float(r["value"]) for r in rows if int(r["layer_index"]) == li and r["split"] == half and
                        r["roi"] == roi and r["metric"] == "predictivity"][0])
vtref.check_close("predictivity vs scikit-learn k-fold RidgeCV", got, ref, atol=1e-6, rtol=1e-6)

# Several subjects in one call (one pass over the layers, shared per-layer work) must store exactly
# what separate calls store: subj02 has the same stimuli (shares the split, the model RSMs and the
# ridge decomposition with subj01), subj03 lists them in another order (as many rows, other ones) and
# subj04 lacks four.
resp2 = (signal[:, None, :] * 0.5 + 1.1 * rng.standard_normal((n, reps, units))).astype(np.float32)
brain2 = v.path("B2.h5")
scoreref.write_brain(brain2, ids, resp2, rois, subject="subj02")
perm = rng.permutation(n)
brain3 = v.path("B3.h5")
scoreref.write_brain(brain3, [ids[i] for i in perm], resp[perm], rois, subject="subj03")
keep = rng.permutation(n)[: n - 4]
brain4 = v.path("B4.h5")
scoreref.write_brain(brain4, [ids[i] for i in keep], resp2[keep], rois, subject="subj04")
common = ["--features", feat_path, "--bootstrap", "25", "--split", "odd-even", "--metrics",
          "crsa,versa,encoding,predictivity", "--folds", "3", "--alphas", "0.1,1,10,100,1000"]


def keyed(db):
    out = v.run("results", "export", "--db", db, "--format", "csv").stdout
    got = {}
    for r in csv.DictReader(io.StringIO(out)):
        key = tuple(r[k] for k in ("subject", "layer_index", "roi", "metric", "split", "selected"))
        vtref.check(key not in got, f"duplicate score row {key}")
        got[key] = tuple(r[k] for k in ("value", "ci_low", "ci_high", "noise_ceiling", "normalised", "layer_ed"))
    return got


together = v.path("many.sqlite")
r = v.run("score", *common, "--brain", brain_path, "--brain", brain2, "--brain", brain3, "--brain", brain4, "--db",
          together)
vtref.check(r.stdout.count(" vs subj0") == 4, "one summary per subject")
apart = v.path("apart.sqlite")
for b in (brain_path, brain2, brain3, brain4):
    v.run("score", *common, "--brain", b, "--db", apart)
a, b = keyed(together), keyed(apart)
vtref.check(len(a) > 0 and a == b,
            f"several --brain in one call vs separate calls: {len(a)} vs {len(b)} rows, "
            f"{sum(a.get(k) != b[k] for k in b)} differ")
print(f"  4 subjects in one call: {len(a)} score rows, identical to 4 separate calls: {a == b}")
runs = {}
for r in csv.DictReader(io.StringIO(v.run("results", "export", "--db", together, "--format", "csv").stdout)):
    runs.setdefault(r["subject"], set()).add(r["run_id"])
vtref.check(len(runs) == 4 and all(len(x) == 1 for x in runs.values()) and
            len(set.union(*runs.values())) == 4, f"one run per subject: {runs}")
v.expect_error("--folds-out with two brains", "score", "--features", feat_path, "--brain", brain_path, "--brain",
               brain2, "--db", v.path("x.sqlite"), "--folds-out", v.path("f.npy"))
