"""A synthetic set of benchmark results for the results-database and report tests, plus
independent reference implementations (numpy/scipy) of the analyses ventral runs over it:
layer selection, subject means with bootstrap CIs (ventral's Philox draws, re-implemented
here), Spearman correlations and grouped comparisons."""
import csv
import os

import numpy as np

COLUMNS = ["run_id", "model", "model_sha256", "family", "task", "training_data", "trained", "imagenet_top1",
           "n_params", "transform", "layer_index", "layer_name", "layer_op", "layer_shape", "layer_features",
           "layer_k", "layer_ed", "subject", "roi", "metric", "split", "value", "ci_low", "ci_high",
           "noise_ceiling", "normalised", "selected"]

MODELS = [
    # name, family, task, training data, trained, top1, params, n_layers
    ("alexnet", "cnn", "classification", "imagenet1k", 1, 56.52, 61100840, 8),
    ("resnet18", "cnn", "classification", "imagenet1k", 1, 69.76, 11689512, 10),
    ("resnet18_random", "cnn", "classification", "imagenet1k", 0, 0.1, 11689512, 10),
    ("vgg16", "cnn", "classification", "imagenet1k", 1, 71.59, 138357544, 9),
    ('vit_b_16 "base", p16', "transformer", "classification", "imagenet21k", 1, 81.07, 86567656, 12),
    ("vit_random", "transformer", "classification", "imagenet21k", 0, None, 86567656, 12),
    ("clip_rn50", "cnn", "contrastive", "laion", 1, 59.8, 38316896, 7),
    ("swin_t", "transformer", "classification", "imagenet1k", 1, 81.47, 28288354, 11),
]
SUBJECTS = ["subj01", "subj02", "subj03", "subj04"]
ROIS = ["OTC", "V1"]
METRICS = ["crsa", "versa"]


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def make_rows(seed=0, run_id=1):
    """Score rows (dicts keyed by COLUMNS, values as the CSV strings)."""
    rng = np.random.default_rng(seed)
    rows = []
    for mi, (name, fam, task, data, trained, top1, params, nl) in enumerate(MODELS):
        sha = "%064x" % (0x1234567 * (mi + 1))
        quality = 0.2 + 0.05 * mi * (1 if trained else 0.2)
        peak = rng.uniform(0.4, 0.9)
        eds = rng.uniform(2, 60, size=nl)
        for li in range(nl):
            depth = li / (nl - 1)
            for subj_i, subj in enumerate(SUBJECTS):
                if name == "vgg16" and subj == "subj04":
                    continue  # a subject this model was never scored on
                for roi in ROIS:
                    nc = float(np.round(rng.uniform(0.5, 0.9), 6))
                    for metric in METRICS:
                        base = quality * np.exp(-((depth - peak) ** 2) / 0.1) + 0.02 * subj_i
                        for split in ["train", "test"]:
                            if name == "alexnet" and li == 7 and split == "test" and subj == "subj02":
                                continue  # a missing test score (of a layer that is not selected)
                            v = float(base + rng.normal(0, 0.03))
                            if name == "resnet18" and li in (3, 4) and split == "train":
                                v = 0.9  # a tie in the train split: the lower layer must win
                            has_ci = (li + subj_i) % 3 != 0
                            norm = v / nc if (li % 2 == 0) else None  # else: ventral divides by the ceiling
                            rows.append({
                                "run_id": str(run_id), "model": name, "model_sha256": sha, "family": fam,
                                "task": task, "training_data": data, "trained": str(trained),
                                "imagenet_top1": fmt(top1), "n_params": str(params),
                                "transform": "torchvision_default" if fam == "cnn" else "vit_224",
                                "layer_index": str(li), "layer_name": f"block{li}.out,relu" if li == 2 else f"layer{li}",
                                "layer_op": "Relu" if li % 2 else "Conv",
                                "layer_shape": f"{64 * (li + 1)}x7x7", "layer_features": str(64 * (li + 1) * 49),
                                "layer_k": str(min(5920, 64 * (li + 1) * 49)), "layer_ed": fmt(float(eds[li])),
                                "subject": subj, "roi": roi, "metric": metric, "split": split, "value": fmt(v),
                                "ci_low": fmt(v - 0.05) if has_ci else "", "ci_high": fmt(v + 0.04) if has_ci else "",
                                "noise_ceiling": fmt(nc), "normalised": fmt(norm), "selected": "0",
                            })
    return rows


def write_csv(path, rows, columns=COLUMNS):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r[c] for c in columns})


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- ventral's counter-based RNG (Philox4x32-10), for reproducing its bootstrap draws ----

_M0, _M1, _W0, _W1, _MASK = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85, 0xFFFFFFFF


def philox(seed, stream, block):
    c0, c1, c2, c3 = block & _MASK, (block >> 32) & _MASK, stream & _MASK, (stream >> 32) & _MASK
    k0, k1 = seed & _MASK, (seed >> 32) & _MASK
    for _ in range(10):
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c2 = ((p1 >> 32) ^ c1 ^ k0) & _MASK, ((p0 >> 32) ^ c3 ^ k1) & _MASK
        c1, c3 = p1 & _MASK, p0 & _MASK
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return c0, c1, c2, c3


class Rng:
    def __init__(self, seed, stream):
        self.seed, self.stream, self.counter = seed, stream, 0
        self._block = None

    def u64(self):
        i = self.counter
        self.counter += 1
        if self._block is None or self._block[0] != i >> 1:
            self._block = (i >> 1, philox(self.seed, self.stream, i >> 1))
        w = self._block[1]
        return (w[3] << 32 | w[2]) if i & 1 else (w[1] << 32 | w[0])

    def below(self, n):
        top = (1 << 64) - 1
        limit = top - top % n
        while True:
            x = self.u64()
            if x < limit:
                return x % n


_draw_cache = {}


def bootstrap_draw(seed, b, n):
    key = (seed, b, n)
    if key not in _draw_cache:
        r = Rng(seed, b)
        _draw_cache[key] = [r.below(n) for _ in range(n)]
    return _draw_cache[key]


def percentile_ci(samples, level):
    lo, hi = np.percentile(np.asarray(samples), [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


# ---- reference analyses ----

def normalised(r):
    if r["normalised"] != "":
        return float(r["normalised"])
    nc = float(r["noise_ceiling"]) if r["noise_ceiling"] != "" else float("nan")
    return float(r["value"]) / nc if nc > 0 else float("nan")


def ranking(rows, metric, roi, n_boot, seed, level):
    """Per model: per subject the best-train layer's test score; means and CIs. Sorted best first."""
    models = {}
    for r in rows:
        if r["metric"] != metric or r["roi"] != roi:
            continue
        models.setdefault(r["model"], []).append(r)
    out = []
    for name, rs in models.items():
        subjects = sorted({r["subject"] for r in rs})
        sel = []
        for s in subjects:
            train = [r for r in rs if r["subject"] == s and r["split"] == "train"]
            best = max(train, key=lambda r: (float(r["value"]), -int(r["layer_index"])))
            test = [r for r in rs if r["subject"] == s and r["split"] == "test"
                    and r["layer_index"] == best["layer_index"]]
            if test:
                sel.append((s, int(best["layer_index"]), float(best["value"]), test[0]))
        x = np.array([t[3]["value"] for t in sel], dtype=float)
        nx = np.array([normalised(t[3]) for t in sel])
        m = {"model": name, "subjects": [t[0] for t in sel], "layer_index": [t[1] for t in sel],
             "train": [t[2] for t in sel], "test": list(x), "normalised": list(nx), "mean": float(x.mean()),
             "norm_mean": float(nx.mean()), "rows": rs,
             "ed": float(np.mean([float(t[3]["layer_ed"]) for t in sel])),
             "top1": float(rs[0]["imagenet_top1"]) if rs[0]["imagenet_top1"] else float("nan"),
             "n_params": float(rs[0]["n_params"]), "family": rs[0]["family"], "task": rs[0]["task"],
             "training_data": rs[0]["training_data"], "trained": "trained" if rs[0]["trained"] == "1" else "random"}
        for key, vals in [("", x), ("norm_", nx)]:
            stats = [np.mean(vals[bootstrap_draw(seed, b, len(vals))]) for b in range(n_boot)]
            m[key + "ci_low"], m[key + "ci_high"] = percentile_ci(stats, level)
        out.append(m)
    out.sort(key=lambda m: (-m["mean"], m["model"]))
    return out


def groups(rank, attribute, n_boot, seed, level):
    """Group means over models and their CIs (subjects and models resampled), as ventral documents."""
    values = sorted({m[attribute] for m in rank})
    members = [[m for m in rank if m[attribute] == v] for v in values]
    subjects = sorted({s for m in rank for s in m["subjects"]})
    S = len(subjects)
    flat = [m for grp in members for m in grp]
    table = []
    for grp in members:
        for m in grp:
            d = dict(zip(m["subjects"], m["test"]))
            table.append([d.get(s, float("nan")) for s in subjects])
    table = np.array(table)
    means = [float(np.mean([m["mean"] for m in grp])) for grp in members]
    stat = np.zeros((n_boot, len(values)))
    for b in range(n_boot):
        r = Rng(seed, (1 << 32) + b)
        sidx = [r.below(S) for _ in range(S)]
        first = 0
        for g, grp in enumerate(members):
            tot = 0.0
            for _ in range(len(grp)):
                i = first + r.below(len(grp))
                v = table[i, sidx]
                v = v[np.isfinite(v)]
                tot += v.mean() if v.size else flat[i]["mean"]
            stat[b, g] = tot / len(grp)
            first += len(grp)
    res = {"values": values, "n": [len(g) for g in members], "mean": means,
           "ci": [percentile_ci(stat[:, g], level) for g in range(len(values))]}
    if len(values) == 2:
        res["diff"] = means[0] - means[1]
        res["diff_ci"] = percentile_ci(stat[:, 0] - stat[:, 1], level)
    return res


def rsm_vectors(n_models, n_stim, seed=1):
    """Upper triangles of RSMs of correlated random features, one per model."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n_stim, 20))
    out = []
    for i in range(n_models):
        x = common * (1 + i * 0.3) + rng.standard_normal((n_stim, 20)) * (0.5 + 0.4 * i)
        r = np.corrcoef(x)
        out.append(r)
    return out


def upper(m):
    i, j = np.triu_indices(m.shape[0], 1)
    return m[i, j]


def tools_path(name):
    return os.path.join(os.environ.get("VENTRAL_TOOLS", ""), name)
