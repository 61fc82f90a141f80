"""Brain store: files written by h5py in the documented layout (docs/brain_store.md) are read by
ventral (variable- and fixed-length strings, optional datasets, spatial maps); ceilings computed
from them equal numpy's; malformed stores give a clean one-line error."""
import json
import os

import h5py
import numpy as np

import nsdref
import vtref
from vtref import check, check_close

args = vtref.parse_args()
vt = vtref.Ventral(args.ventral)
rng = np.random.default_rng(3)


def write_store(path, r, ids, fixed=False, maps=None, extra=None, attrs=None):
    with h5py.File(path, "w") as f:
        f["responses"] = r.astype(np.float32)
        if fixed:
            f["stimulus_ids"] = np.array([s.encode() for s in ids], dtype="S12")
        else:
            f.create_dataset("stimulus_ids", data=ids, dtype=h5py.string_dtype())
        f.create_dataset("units/id", data=[f"n{u}" for u in range(r.shape[-1])], dtype=h5py.string_dtype())
        f.create_dataset("stimuli/category", data=[f"c{i % 4}" for i in range(r.shape[0])], dtype=h5py.string_dtype())
        if maps is not None:
            f["maps"] = maps.astype(np.float32)
        for k, v in (extra or {}).items():
            f[k] = v
        a = {"format": "ventral-brain", "format_version": np.int64(1), "subject": "monkey-M"}
        a.update(attrs or {})
        for k, v in a.items():
            if v is not None:
                f.attrs[k] = v


S, R, U = 40, 4, 12
sig = rng.normal(size=(S, 1, U)) * np.linspace(0.2, 2, U)
r = sig + rng.normal(size=(S, R, U))
r[rng.random((S, R)) < 0.15] = np.nan  # missing trials (whole rows)
r[:, 0, :] = np.where(np.isnan(r[:, 0, :]), 0.5, r[:, 0, :])  # every stimulus keeps a trial
ids = [f"img{i:03d}" for i in range(S)]

for fixed in (False, True):
    p = vt.path(f"store_{fixed}.h5")
    write_store(p, r, ids, fixed=fixed)
    res = vt.run("brain", "info", p, "--json")
    info = json.loads(res.stdout)
    check(info["stimuli"] == S and info["repetitions"] == R and info["units"] == U, f"info sizes (fixed strings {fixed})")
    check(info["first_stimulus"] == "img000" and info["meta"] == ["category"] and info["subject"] == "monkey-M",
          f"ids and metadata (fixed strings {fixed})")
    check(info["missing_values"] == int(np.isnan(r).sum()), "missing values counted")
    out = vt.path(f"ceil_{fixed}")
    vt.run("ceiling", "--brain", p, "--method", "ncsnr", "-o", out)
    ncsnr, nc = nsdref.ncsnr_nc(r.astype(np.float32).astype(np.float64))
    check_close(f"ncsnr (fixed strings {fixed})", np.load(os.path.join(out, "ncsnr.npy")), ncsnr, atol=1e-9, rtol=1e-9)
    check_close("noise ceiling", np.load(os.path.join(out, "noise_ceiling.npy")), nc, atol=1e-9, rtol=1e-9)

# Split-half (Spearman-Brown) with ventral's recorded split orders, recomputed in numpy.
p = vt.path("store_False.h5")
out = vt.path("split")
vt.run("ceiling", "--brain", p, "--method", "split-half", "--splits", 7, "--seed", 5, "-o", out)
orders = np.load(os.path.join(out, "split_orders.npy"))
x = r.astype(np.float32).astype(np.float64)
ref = np.zeros(U)
for u in range(U):
    vals = []
    for s in range(orders.shape[0]):
        a, b = [], []
        for i in range(S):
            avail = [k for k in orders[s, i] if not np.isnan(x[i, k, u])]
            if len(avail) < 2:
                continue
            h = len(avail) // 2
            a.append(np.mean(x[i, avail[:h], u]))
            b.append(np.mean(x[i, avail[h:], u]))
        c = np.corrcoef(a, b)[0, 1]
        vals.append(2 * c / (1 + c))
    ref[u] = np.mean(vals)
check_close("split-half (Spearman-Brown)", np.load(os.path.join(out, "split_half.npy")), ref, atol=1e-9, rtol=1e-9)

# Spatial maps: split-half ceiling per site (Spearman between half-mean maps, mean over images, SB).
H, W = 5, 6
base = rng.normal(size=(S, 1, U, H, W))
maps = base + 0.8 * rng.normal(size=(S, R, U, H, W))
maps[:, 3] = np.nan  # the 4th repetition missing everywhere
pm = vt.path("maps.h5")
write_store(pm, r, ids, maps=maps)
out = vt.path("maps")
vt.run("ceiling", "--brain", pm, "--method", "split-half", "--maps", "--splits", 3, "--seed", 1, "-o", out)
orders = np.load(os.path.join(out, "split_orders.npy"))
m = maps.astype(np.float32).astype(np.float64)


def rank(v):
    return np.array([np.sum(v < t) + (np.sum(v == t) + 1) / 2 for t in v])


ref = np.zeros(U)
for u in range(U):
    vals = []
    for s in range(orders.shape[0]):
        cs = []
        for i in range(S):
            avail = [k for k in orders[s, i] if not np.isnan(m[i, k, u, 0, 0])]
            h = len(avail) // 2
            a = m[i, avail[:h], u].mean(axis=0).ravel()
            b = m[i, avail[h:], u].mean(axis=0).ravel()
            cs.append(np.corrcoef(rank(a), rank(b))[0, 1])
        c = np.mean(cs)
        vals.append(2 * c / (1 + c))
    ref[u] = np.mean(vals)
check_close("maps split-half ceiling", np.load(os.path.join(out, "maps_split_half.npy")), ref, atol=1e-9, rtol=1e-9)
check(json.loads(vt.run("brain", "info", pm, "--json").stdout)["maps"] == [H, W], "info reports the maps' grid")

# Export to plain files for the .npy commands; `ventral reliability` on the export agrees with `ventral ceiling`.
exp = vt.path("export")
vt.run("brain", "export", pm, "--to", exp)
with h5py.File(pm, "r") as f:
    check(np.array_equal(np.load(os.path.join(exp, "responses.npy")), f["responses"][()], equal_nan=True), "export: responses")
    check(np.array_equal(np.load(os.path.join(exp, "maps.npy")), f["maps"][()], equal_nan=True), "export: maps")
    x = f["responses"][()].astype(np.float64)
check_close("export: trial means", np.load(os.path.join(exp, "mean.npy")), np.nanmean(x, axis=1), atol=1e-12, rtol=1e-12)
check(open(os.path.join(exp, "stimulus_ids.txt")).read().split() == ids, "export: stimulus ids")
units = [l.rstrip("\n").split("\t") for l in open(os.path.join(exp, "units.tsv"))]
check(units[0] == ["id", "roi", "i", "j", "k", "ncsnr"] and [u[0] for u in units[1:]] == [f"n{u}" for u in range(U)],
      "export: units table")
stim = [l.rstrip("\n").split("\t") for l in open(os.path.join(exp, "stimuli.tsv"))]
check(stim[0] == ["stimulus_id", "category"] and stim[5] == [ids[4], "c0"], "export: stimulus metadata table")
rel = vt.path("rel")
vt.run("reliability", os.path.join(exp, "responses.npy"), "-o", rel)
cdir = vt.path("ceil_maps_store")
vt.run("ceiling", "--brain", pm, "--method", "ncsnr", "-o", cdir)
check(np.array_equal(np.load(os.path.join(rel, "ncsnr.npy")), np.load(os.path.join(cdir, "ncsnr.npy")), equal_nan=True),
      "ventral reliability on the export == ventral ceiling on the store")

# Malformed stores.
def bad(what, contains, **kw):
    p = vt.path("bad.h5")
    if os.path.exists(p):
        os.remove(p)
    write_store(p, kw.pop("r", r), kw.pop("ids", ids), **kw)
    vt.expect_error(what, "brain", "info", p, contains=contains)
    out = os.path.join(vt.path("bad-ceiling"), "out")
    vt.expect_error(what + " (ceiling)", "ceiling", "--brain", p, "--method", "ncsnr", "-o", out, contains=contains)
    check(not os.path.exists(vt.path("bad-ceiling")), f"{what} (ceiling): left its output directory behind")


bad("not a store", "ventral brain store", attrs={"format": None})
bad("newer version", "version", attrs={"format_version": np.int64(9)})
bad("responses rank 2", "rank 2", r=r[:, 0, :])
bad("ids count mismatch", "stimulus_ids", ids=ids[:-1])
bad("duplicate ids", "more than once", ids=ids[:-1] + [ids[0]])
bad("maps shape", "maps", maps=np.zeros((S, R, U + 1, 2, 2)))
p = vt.path("nores.h5")
with h5py.File(p, "w") as f:
    f.attrs["format"] = "ventral-brain"
    f.attrs["format_version"] = np.int64(1)
vt.expect_error("missing responses", "brain", "info", p, contains="'responses'")
p = vt.path("trunc.h5")
write_store(p, np.zeros((400, 3, 200)), [str(i) for i in range(400)])
with open(p, "r+b") as f:
    f.truncate(os.path.getsize(p) // 2)
vt.expect_error("truncated store", "brain", "info", p, contains="trunc")
vt.expect_error("missing file", "brain", "info", vt.path("nope.h5"), contains="nope.h5")
vt.expect_error("bad method", "ceiling", "--brain", vt.path("store_False.h5"), "--method", "magic")
