"""End to end on the simulated world (issue 8): `ventral simulate` plants one layer of one bundled
model in the voxels; `ventral bench` must rank the planted model first in veRSA and select the
planted layer, estimate ceilings that match the planted SNR, serve a second run from the feature
cache, resume after kill -9 with no lost or duplicated result, and `ventral report` must render."""
import csv
import io
import json
import os
import signal
import subprocess
import time

import numpy as np

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
models_dir = os.path.join(os.environ["VENTRAL_FIXTURES"], "..", "..", "examples", "models")
planted_model, planted_layer = "tinycnn", "/Relu_3"
world = v.path("world")
v.run("simulate", "--out", world, "--model", os.path.join(models_dir, "tinycnn.onnx"), "--layer", planted_layer,
      "--stimuli", "160", "--voxels", "120", "--subjects", "2", "--snr", "0.8,2.0", "--seed", "3")
truth = json.load(open(os.path.join(world, "truth.json")))


def config(name, db, cache):
    path = v.path(f"{name}.yaml")
    models = "".join(f"""
  - name: {m}
    path: {os.path.join(models_dir, m + '.onnx')}
    family: {fam}
    trained: {tr}""" for m, fam, tr in [("tinycnn", "cnn", "true"), ("tinycnn_random", "cnn", "false"),
                                        ("tinymlp_random", "mlp", "false")])
    with open(path, "w") as f:
        f.write(f"""name: {name}
db: {db}
cache: {cache}
stimuli: {os.path.join(world, 'nsd_stimuli.hdf5')}
transform: none
bootstrap: 50
brain: [{os.path.join(world, 'subj01.h5')}, {os.path.join(world, 'subj02.h5')}]
models:{models}
""")
    return path


def export(db):
    out = v.run("results", "export", "--db", db, "--format", "csv").stdout
    return list(csv.DictReader(io.StringIO(out)))


def selected(rows):
    return {(r["model"], r["subject"], r["roi"], r["metric"]): (r["layer_name"], float(r["value"]))
            for r in rows if r["selected"] == "1" and r["split"] == "test"}


db, cache = v.path("r.sqlite"), v.path("cache")
cfg = config("world", db, cache)
first = v.run("bench", cfg)
print(first.stdout.strip())
vtref.check("3 models extracted, 0 from the cache" in first.stdout, "first run extracts every model")
rows = export(db)
sel = selected(rows)
# The planted model must win veRSA everywhere, and the planted layer must be chosen in at least 3
# of the 4 (subject, ROI) cells (with 80 training stimuli a neighbouring layer can tie by chance).
planted_hits = {"versa": 0, "encoding": 0}
for subject in ["sim01", "sim02"]:
    for roi in ["ventral", "lateral"]:
        scores = {m: sel[(m, subject, roi, "versa")][1] for m in ["tinycnn", "tinycnn_random", "tinymlp_random"]}
        best = max(scores, key=scores.get)
        layer = sel[(planted_model, subject, roi, "versa")][0]
        print(f"  {subject}/{roi} veRSA: {scores}, planted model's selected layer {layer}")
        vtref.check(best == planted_model, f"{subject}/{roi}: planted model wins veRSA ({best})")
        planted_hits["versa"] += layer == planted_layer
        planted_hits["encoding"] += sel[(planted_model, subject, roi, "encoding")][0] == planted_layer
for metric, hits in planted_hits.items():
    vtref.check(hits >= 3, f"{metric} selects the planted layer in {hits} of 4 subject/ROI cells")

# Ceilings: the encoding ceiling is the median over voxels of sqrt(NC/100) on the test stimuli;
# the truth is the same summary of the planted SNRs (NC = 100 snr^2 / (snr^2 + 1/3)).
for s, subj in enumerate(["sim01", "sim02"]):
    import h5py
    with h5py.File(os.path.join(world, f"subj{s + 1:02d}.h5")) as f:
        snr = f["units/ncsnr"][()]
        rois = [x.decode() if isinstance(x, bytes) else x for x in f["units/roi"][()]]
    for roi in ["ventral", "lateral"]:
        u = np.array([r == roi for r in rois])
        true = np.median(np.sqrt(snr[u] ** 2 / (snr[u] ** 2 + 1 / 3)))
        got = [float(r["noise_ceiling"]) for r in rows if r["subject"] == subj and r["roi"] == roi and
               r["metric"] == "encoding" and r["split"] == "test"][0]
        print(f"  {subj}/{roi}: encoding ceiling {got:.3f}, planted {true:.3f}")
        vtref.check(abs(got - true) < 0.08, f"{subj}/{roi}: estimated ceiling {got:.3f} matches the planted {true:.3f}")

# A second run is served from the cache and reproduces the scores.
second = v.run("bench", cfg)
vtref.check("0 models extracted, 3 from the cache" in second.stdout, f"second run from the cache: {second.stdout.strip()}")
runs = sorted({r["run_id"] for r in export(db)})
by_run = [selected([r for r in export(db) if r["run_id"] == run]) for run in runs]
vtref.check(len(runs) == 2 and by_run[0] == by_run[1], "the cached run reproduces every selected score")

# kill -9 in the middle of a run, then resume: the final results equal the uninterrupted run's,
# with no duplicated row and no corrupt or temporary file left in the cache.
db2, cache2 = v.path("k.sqlite"), v.path("cache2")
cfg2 = config("killed", db2, cache2)
proc = subprocess.Popen([args.ventral, "bench", cfg2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 120
while time.time() < deadline and proc.poll() is None:
    if os.path.exists(cache2) and any(n.endswith(".h5") for n in os.listdir(cache2)):
        time.sleep(0.3)
        break
    time.sleep(0.05)
killed = proc.poll() is None
if killed:
    proc.send_signal(signal.SIGKILL)
proc.wait()
print(f"  killed mid-run: {killed}")
resumed = v.run("bench", cfg2, "--jobs", "2")  # resumed by two worker processes
print("  " + resumed.stdout.strip())
vtref.check("run 1 finished" in resumed.stdout, "the killed run is resumed, not restarted")
rows2 = export(db2)
keys = [(r["run_id"], r["model"], r["layer_index"], r["subject"], r["roi"], r["metric"], r["split"]) for r in rows2]
vtref.check(len(keys) == len(set(keys)), "no duplicated result after resuming")
# Equal up to rounding: the resumed run's workers use one thread each, and OpenBLAS's sums
# depend on the thread count (about 1e-16 relative).
resumed_sel = selected(rows2)
vtref.check(resumed_sel.keys() == by_run[0].keys() and
            all(resumed_sel[k][0] == by_run[0][k][0] and abs(resumed_sel[k][1] - by_run[0][k][1]) < 1e-9
                for k in by_run[0]), "resumed results equal the uninterrupted run's (same layers, scores to 1e-9)")
finals = [n for n in os.listdir(cache2) if n.endswith(".h5")]
import h5py
vtref.check(len(finals) == 3 and all(h5py.File(os.path.join(cache2, n))["layers"] for n in finals),
            f"every cached feature store under a final name is complete ({finals})")

# Bad configuration: a clean one-line error naming the file and the key.
bad = v.path("bad.yaml")
open(bad, "w").write("name: x\nstimuli: nowhere\nbrain: []\nmodels: []\n")
v.expect_error("empty brain list", "bench", bad, contains="brain")
open(bad, "w").write("name: [unclosed\n")
v.expect_error("invalid YAML", "bench", bad, contains="bad.yaml")

# The report renders.
rep = v.path("report")
v.run("report", "--db", db, "--out", rep)
html = open(os.path.join(rep, "index.html")).read()
pngs = [n for n in os.listdir(os.path.join(rep, "figures")) if n.endswith(".png")]
vtref.check(len(pngs) >= 5 and all(open(os.path.join(rep, "figures", n), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
                                   for n in pngs) and "tinycnn" in html, f"report with {len(pngs)} PNG figures")
