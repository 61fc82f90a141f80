"""`ventral extract --unprojected-rsm` (issue 8, METHODS §6: the conwell2024 cRSA uses RDMs of the
*unprojected* layer features). On a bundled model and a stimulus count the batch size does not
divide: every stored RSM equals numpy.corrcoef of the layer's full unprojected activations (from
`ventral run`) to 1e-6, for several column-panel budgets, batch sizes and thread counts; the
features themselves are those of a plain extraction; `ventral score --protocol conwell2024`
cRSA equals the DeepNSD-style numpy recomputation (1 - Pearson RDMs of the unprojected features
on each half, compared by Pearson) to 1e-6 and selects the same layers; a store without the RSMs
is refused for that cRSA with a one-line error; the default protocol is unchanged; `ventral bench`
with protocol conwell2024 extracts (and caches under its own key) stores with the RSMs. Errors:
too little disk (checked up front) and a failing spill write give one-line errors and leave no
temporary file behind."""
import csv
import io
import json
import os
import resource
import signal
import subprocess

import h5py
import numpy as np

import scoreref
import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
model = os.path.join(os.environ["VENTRAL_FIXTURES"], "..", "..", "examples", "models", "tinycnn.onnx")
rng = np.random.default_rng(11)
n = 37  # batch 5 and 16 leave partial last batches
# Smooth random images (a little spatial structure, so that layers differ in their RSMs).
base = rng.random((n, 3, 8, 8), dtype=np.float32)
x = np.clip(np.kron(base, np.ones((1, 1, 8, 8), np.float32)) + 0.2 * rng.random((n, 3, 64, 64), dtype=np.float32), 0,
            1).astype(np.float32)
stim = v.save("x.npy", x)


def listing():
    return sorted(os.listdir(v.dir))


def extract(out, *extra, env=None):
    return v.run("extract", model, "--stimuli", stim, "--out", out, *extra, env=env)


# --- the stored RSMs against numpy.corrcoef of the unprojected activations ---
before = listing()
f_rsm = v.path("F_rsm.h5")
r = extract(f_rsm, "--batch", "5", "--unprojected-rsm", "--rsm-memory", "100K")
print(r.stderr.strip())
vtref.check(listing() == sorted(before + ["F_rsm.h5"]), f"only the store is left after success: {listing()}")
f_plain = v.path("F_plain.h5")
extract(f_plain, "--batch", "16")
raw = v.path("raw")
v.run("run", model, "--input", stim, "--out", raw, "--batch", "5", "--capture", "all")
manifest = {m["name"]: m for m in json.load(open(os.path.join(raw, "manifest.json"))) if m["kind"] == "layer"}

F = h5py.File(f_rsm, "r")
P = h5py.File(f_plain, "r")
names = list(F["layers"])
vtref.check(F.attrs["unprojected_rsm"] == 1 and "rsm" not in P and "unprojected_rsm" not in P.attrs,
            "root attribute unprojected_rsm only on the store extracted with the flag")
vtref.check(sorted(F["rsm"]) == names, f"one RSM per stored layer ({len(F['rsm'])} of {len(names)})")
vtref.check(all(np.array_equal(F["layers"][k][()], P["layers"][k][()]) for k in names),
            "the flag leaves the stored (projected) features bit-identical")
projected = [k for k in names if F["layers"][k].attrs["projected"] == 1]
vtref.check(len(projected) >= 5, f"{len(projected)} layers projected by SRP, so the RSMs are not those of the store")
unprojected = {}
for k in names:
    d = F["layers"][k]
    a = np.load(os.path.join(raw, manifest[d.attrs["name"]]["file"])).reshape(n, -1).astype(np.float64)
    vtref.check(a.shape[1] == d.attrs["features"], f"{k}: {a.shape[1]} unprojected features per stimulus")
    unprojected[k] = a
    rsm = F["rsm"][k]
    vtref.check(rsm.dtype == np.float64 and rsm.shape == (n, n) and rsm.attrs["features"] == "unprojected" and
                rsm.attrs["metric"] == "pearson", f"{k}: rsm/{k} is a float64 {n} x {n} Pearson RSM of unprojected features")
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = np.corrcoef(a)
    vtref.check_close(f"{k} ({d.attrs['name']}, p = {a.shape[1]}) RSM vs numpy.corrcoef", rsm[()], ref, atol=1e-6,
                      rtol=0)

# Another batch size and thread count give the same bits; another panel budget agrees to rounding.
f_b16 = v.path("F_b16.h5")
extract(f_b16, "--batch", "16", "--unprojected-rsm", "--rsm-memory", "100K", env={"VENTRAL_THREADS": "1"})
f_mem = v.path("F_mem.h5")
extract(f_mem, "--batch", "7", "--unprojected-rsm", "--rsm-memory", "20K")  # 67-column panels
with h5py.File(f_b16, "r") as G, h5py.File(f_mem, "r") as M:
    vtref.check(all(np.array_equal(F["rsm"][k][()], G["rsm"][k][()], equal_nan=True) for k in names),
                "RSMs bit-identical for batch 5 / 2 threads and batch 16 / 1 thread")
    vtref.check_close("RSMs with 67- vs 337-column panels", np.stack([M["rsm"][k][()] for k in names]),
                      np.stack([F["rsm"][k][()] for k in names]), atol=1e-6, rtol=0)

# --- conwell2024 cRSA against a numpy recomputation following DeepNSD ---
reps, units = 3, 30
ids = [s.decode() if isinstance(s, bytes) else s for s in F["stimulus_ids"][()]]
latent = unprojected[names[9]]  # signal from one mid layer's unprojected features
latent = (latent - latent.mean(0)) / (latent.std(0) + 1e-6)
signal_ = latent @ rng.standard_normal((latent.shape[1], units)) / np.sqrt(latent.shape[1])
resp = signal_[:, None, :] + 0.7 * rng.standard_normal((n, reps, units))
resp = resp.astype(np.float32).astype(np.float64)
rois = ["FFA"] * 12 + ["PPA"] * 18
order = rng.permutation(n)  # the brain lists stimuli in another order: matching is by id
brain = v.path("B.h5")
scoreref.write_brain(brain, [ids[i] for i in order], resp[order], rois)


def export(db):
    out = v.run("results", "export", "--db", db, "--format", "csv").stdout
    return list(csv.DictReader(io.StringIO(out)))


def scores(rows, metric):
    got = {}
    for r in rows:
        if r["metric"] != metric:
            continue
        key = (int(r["layer_index"]), r["roi"])
        got.setdefault(key, [np.nan, np.nan, 0])
        got[key][0 if r["split"] == "train" else 1] = float(r["value"])
        if r["split"] == "test":
            got[key][2] = int(r["selected"])
    return got


db = v.path("conwell.sqlite")
v.run("score", "--features", f_rsm, "--brain", brain, "--db", db, "--protocol", "conwell2024", "--metrics", "crsa",
      "--bootstrap", "0")
got = scores(export(db), "crsa")
y = np.nanmean(resp[order], axis=1)  # brain rows in the brain's order
tr, te = np.arange(n)[::2], np.arange(n)[1::2]  # odd/even positions of the brain's stimuli
ref = {}
for k in names[len(names) // 2:]:  # the second half of the layers
    a = unprojected[k][order]
    for roi in ["FFA", "PPA", "all"]:
        u = np.array([r == roi or roi == "all" for r in rois])
        with np.errstate(invalid="ignore", divide="ignore"):
            ref[(F["layers"][k].attrs["index"], roi)] = (
                scoreref.compare(scoreref.rdm(a[tr]), scoreref.rdm(y[tr][:, u])),
                scoreref.compare(scoreref.rdm(a[te]), scoreref.rdm(y[te][:, u])))
ref = {key: val for key, val in ref.items() if np.all(np.isfinite(val))}
vtref.check(set(got) == set(ref), f"scored (layer, roi) {sorted(got)} == reference {sorted(ref)}")
keys = sorted(set(got) & set(ref))
vtref.check_close("conwell2024 cRSA train (unprojected RDMs)", [got[k][0] for k in keys], [ref[k][0] for k in keys],
                  atol=1e-6, rtol=0)
vtref.check_close("conwell2024 cRSA test (unprojected RDMs)", [got[k][1] for k in keys], [ref[k][1] for k in keys],
                  atol=1e-6, rtol=0)
for roi in ["FFA", "PPA", "all"]:
    cand = [k for k in ref if k[1] == roi]
    best = max(cand, key=lambda k: (ref[k][0], -k[0]))
    chosen = [k for k in cand if k in got and got[k][2] == 1]
    vtref.check(chosen == [best], f"{roi}: selected {chosen}, reference {best}")
# The projected features would have given other scores: the test can tell the two apart.
proj = {}
for k in names[len(names) // 2:]:
    a = F["layers"][k][()].astype(np.float64)[order]
    if F["layers"][k].attrs["projected"]:
        proj[F["layers"][k].attrs["index"]] = scoreref.compare(scoreref.rdm(a[te]), scoreref.rdm(y[te]))
diff = max(abs(proj[i] - ref[(i, "all")][1]) for i in proj if (i, "all") in ref) if proj else 0
vtref.check(diff > 1e-4, f"projected-feature cRSA differs from the unprojected one (max {diff:.3g})")

# --crsa-features overrides the protocol: the default protocol with unprojected RSMs (same split and layer set)
# gives conwell2024's cRSA exactly; conwell2024 with projected features runs on a store without RSMs.
db_u = v.path("default_unprojected.sqlite")
v.run("score", "--features", f_rsm, "--brain", brain, "--db", db_u, "--split", "odd-even", "--layers", "second-half",
      "--metrics", "crsa", "--crsa-features", "unprojected", "--bootstrap", "0")
vtref.check(scores(export(db_u), "crsa") == got, "default protocol + --crsa-features unprojected == conwell2024 cRSA")
db_p = v.path("conwell_projected.sqlite")
v.run("score", "--features", f_plain, "--brain", brain, "--db", db_p, "--protocol", "conwell2024", "--metrics", "crsa",
      "--crsa-features", "projected", "--bootstrap", "0")
got_p = scores(export(db_p), "crsa")
keys_p = sorted(k for k in got_p if k[1] == "all" and k[0] in proj)
vtref.check(len(keys_p) > 0, "conwell2024 + --crsa-features projected scored the projected layers")
vtref.check_close("conwell2024 + projected features: cRSA test vs numpy", [got_p[k][1] for k in keys_p],
                  [proj[k[0]] for k in keys_p], atol=1e-6, rtol=0)
v.expect_error("--crsa-features with a bad value", "score", "--features", f_rsm, "--brain", brain, "--db",
               v.path("bad.sqlite"), "--crsa-features", "raw", contains="--crsa-features")

# A store without the RSMs: conwell2024 cRSA is refused up front; other metrics still run.
v.expect_error("conwell2024 cRSA on a store without unprojected RSMs", "score", "--features", f_plain, "--brain",
               brain, "--db", v.path("refused.sqlite"), "--protocol", "conwell2024", "--bootstrap", "0",
               contains="--unprojected-rsm")
db_v = v.path("versa.sqlite")
v.run("score", "--features", f_plain, "--brain", brain, "--db", db_v, "--protocol", "conwell2024", "--metrics",
      "versa,encoding", "--bootstrap", "0")
vtref.check(len(export(db_v)) > 0, "conwell2024 veRSA/encoding run on a store without RSMs")

# The default protocol is unchanged: cRSA from the stored features whether or not RSMs are there.
rows = {}
for name, path in [("rsm", f_rsm), ("plain", f_plain)]:
    d = v.path(f"default_{name}.sqlite")
    v.run("score", "--features", path, "--brain", brain, "--db", d, "--split", "odd-even", "--metrics", "crsa",
          "--bootstrap", "0")
    rows[name] = scores(export(d), "crsa")
vtref.check(rows["rsm"] == rows["plain"], "default-protocol cRSA identical with and without stored RSMs")
ref_default = {}
for k in names:
    a = F["layers"][k][()].astype(np.float64)[order]
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_default[(F["layers"][k].attrs["index"], "all")] = scoreref.compare(scoreref.rdm(a[te]),
                                                                               scoreref.rdm(y[te]))
keys = sorted(k for k in ref_default if k in rows["plain"] and np.isfinite(ref_default[k]))
vtref.check_close("default cRSA test (stored features)", [rows["plain"][k][1] for k in keys],
                  [ref_default[k] for k in keys], atol=1e-6, rtol=0)

# --- ventral bench with protocol conwell2024 extracts the RSMs, under its own cache key ---
for proto in ["conwell2024", "default"]:
    cfg = v.path(f"bench_{proto}.yaml")
    with open(cfg, "w") as f:
        f.write(f"""name: crsa-{proto}
db: {v.path(f'bench_{proto}.sqlite')}
cache: {v.path('cache')}
stimuli: {stim}
transform: none
protocol: {proto}
metrics: [crsa]
bootstrap: 0
batch: 5
brain: [{brain}]
models:
  - name: tinycnn
    path: {model}
""")
    v.run("bench", cfg)
stores = sorted(os.listdir(v.path("cache")))
with_rsm = [s for s in stores if "rsm" in h5py.File(os.path.join(v.path("cache"), s), "r")]
vtref.check(len(stores) == 2 and len(with_rsm) == 1, f"two cache entries, one with RSMs: {stores}, {with_rsm}")
bench_rows = scores(export(v.path("bench_conwell2024.sqlite")), "crsa")
keys = sorted(got)
vtref.check(sorted(bench_rows) == keys, "bench conwell2024 scores the same (layer, roi) pairs")
vtref.check_close("bench conwell2024 cRSA vs `ventral score --protocol conwell2024`",
                  [bench_rows.get(k, [np.nan] * 3)[:2] for k in keys], [got[k][:2] for k in keys], atol=1e-6, rtol=0)

# --- errors: too little disk, a failing spill write; nothing left behind ---
big = v.path("big.npy")  # 500000 uint8 images as a sparse file: the RSMs alone would need 14 TB
header = {"descr": "|u1", "fortran_order": False, "shape": (500000, 64, 64, 3)}
with open(big, "wb") as f:
    np.lib.format.write_array_header_1_0(f, header)
    f.truncate(f.tell() + 500000 * 64 * 64 * 3)
before = listing()
v.expect_error("not enough disk for the unprojected RSMs", "extract", model, "--stimuli", big, "--transform", "none",
               "--out", v.path("huge.h5"), "--unprojected-rsm", contains="bytes needed")
vtref.check(listing() == before, f"no file left after the disk-space error: {sorted(set(listing()) - set(before))}")
os.remove(big)


def limited():  # files may not grow past 8 MB: the store fits (~5 MB), the 39 MB spill does not
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))


before = listing()
r = subprocess.run([args.ventral, "extract", model, "--stimuli", stim, "--out", v.path("cut.h5"), "--batch", "5",
                    "--unprojected-rsm"], capture_output=True, text=True, preexec_fn=limited)
msg = r.stderr.strip()
print(f"  spill write failure: exit {r.returncode}: {msg}")
vtref.check(0 < r.returncode < 128 and len(msg.splitlines()) == 1 and "spill" in msg,
            "a failing spill write is a one-line error naming the spill")
vtref.check(listing() == before, f"no file left after the write error: {sorted(set(listing()) - set(before))}")
