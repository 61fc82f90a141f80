"""JSON written by ventral stays valid when the user's text holds JSON's special characters: every
input here sits in a directory whose name has a double quote, a backslash, a tab, a control byte
and UTF-8, and the ROI label, NetCDF variable and ONNX node names carry quotes and backslashes too.
Each JSON output (--json on stdout, compare --json, ceiling.json, gsn.json, manifest.json, simulate's
truth.json, the provenance attribute of brain stores, the score and bench run configurations in the
results database, results export --format json) must parse with Python's json module (the
independent decoder) and give the original strings back exactly, never truncated."""
import json
import os
import sqlite3

import h5py
import netCDF4
import numpy as np
import onnx
from onnx import TensorProto, helper

import scoreref
import vtref
from vtref import check

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
rng = np.random.default_rng(5)

WEIRD = 'we"ird\\dir\t\x01 caf\u00e9 "\\'
root = v.path(WEIRD)
os.makedirs(root)


def p(name):
    return os.path.join(root, name)


def parse(what, text):
    """json.loads(text), or None with a failed check naming `what`."""
    try:
        return json.loads(text)
    except ValueError as e:
        check(False, f"{what}: not valid JSON ({e}): {text[:300]!r}")
        return None


def parse_file(what, path):
    with open(path, encoding="utf-8") as f:
        return parse(what, f.read())


# --- ventral dim --json: the input path -----------------------------------------------------------
x = p("X.npy")
np.save(x, rng.standard_normal((20, 6)))
j = parse("dim --json", v.run("dim", x, "--json").stdout)
check(j is not None and j["file"] == x, "dim --json: the file path round-trips")
check(j is not None and j["participation_ratio"] > 1, "dim --json: participation ratio present")

# --- gsn: gsn.json's file ------------------------------------------------------------------------
data = p("gsn data.npy")
np.save(data, rng.standard_normal((6, 12, 3)))
v.run("gsn", data, "-o", p("gsn out"))
j = parse_file("gsn.json", p("gsn out/gsn.json"))
check(j is not None and j["file"] == data, "gsn.json: the file path round-trips")

# --- import-neural (arrays) → provenance; brain info --json; ceiling.json ------------------------
S, R, U = 15, 3, 8
resp = p("resp.npy")
np.save(resp, rng.standard_normal((S, R, U)).astype(np.float32))
ids = p("ids.txt")
with open(ids, "w") as f:
    f.write("".join(f"stim{i}\n" for i in range(S)))
roi = 'I"T\\x'
store = p("brain.h5")
v.run("import-neural", "--responses", resp, "--stimulus-ids", ids, "--out", store, "--region", roi)
with h5py.File(store, "r") as f:
    prov = f.attrs["provenance"]
j = parse("import-neural provenance", prov)
check(j is not None and j["responses"] == resp and j["stimulus_ids"] == ids,
      "import-neural provenance: responses and stimulus_ids paths round-trip")

j = parse("brain info --json", v.run("brain", "info", store, "--json").stdout)
check(j is not None and j["file"] == store, "brain info --json: the file path round-trips")
check(j is not None and j["provenance"] == prov, "brain info --json: the provenance text round-trips")

for method in ["ncsnr", "split-half"]:
    out = p(f"ceiling {method}")
    v.run("ceiling", "--brain", store, "--method", method, "--roi", roi, "-o", out, "--splits", 5)
    j = parse(f"ceiling.json ({method})", open(os.path.join(out, "ceiling.json"), encoding="utf-8").read())
    check(j is not None and j["brain"] == store and j["roi"] == roi and j["units"] == U,
          f"ceiling.json ({method}): brain path and ROI label round-trip")

# --- import-neural --netcdf: provenance file and variable ----------------------------------------
# netCDF-C rewrites backslashes in paths (its path conversion), so this file's directory has the
# quote, tab, control byte and UTF-8 but no backslash; the variable name carries one instead.
P = 2 * S
nc_dir = v.path('net"cdf\t\x01 caf\u00e9')
os.makedirs(nc_dir)
nc = os.path.join(nc_dir, "assy.nc")
var = 'resp"x\\y'
with netCDF4.Dataset(nc, "w") as f:
    f.createDimension("neuroid", U)
    f.createDimension("presentation", P)
    f.createVariable(var, "f4", ("neuroid", "presentation"))[:] = rng.standard_normal((U, P))
    sid = f.createVariable("stimulus_id", str, ("presentation",))
    sid[:] = np.array([f"stim{i % S}" for i in range(P)], dtype=object)
store_nc = p("nc.h5")
v.run("import-neural", "--netcdf", nc, "--variable", var, "--out", store_nc)
with h5py.File(store_nc, "r") as f:
    j = parse("netcdf provenance", f.attrs["provenance"])
check(j is not None and j["file"] == nc and j["variable"] == var, "netcdf provenance: file and variable round-trip")

# --- nsd assemble: provenance root ---------------------------------------------------------------
# (made outside and moved in: make-tiny also writes a NetCDF file, see above)
tiny = p("nsd tiny")
v.run("data", "make-tiny", "--to", v.path("tiny"))
os.rename(v.path("tiny"), tiny)
store_nsd = p("nsd.h5")
v.run("nsd", "assemble", "--root", tiny, "--subject", 1, "--out", store_nsd)
with h5py.File(store_nsd, "r") as f:
    j = parse("nsd provenance", f.attrs["provenance"])
check(j is not None and j["root"] == tiny and j["source"] == "nsd", "nsd provenance: the root path round-trips")

# --- score: the run configuration in the results database ----------------------------------------
n, units = 24, 10
sids = [f"img{i}" for i in range(n)]
feat = p("features.h5")
scoreref.write_features(feat, sids, [("a", "Relu", rng.standard_normal((n, 12))),
                                     ("b", "Relu", rng.standard_normal((n, 7)))])
brain = p("score brain.h5")
scoreref.write_brain(brain, sids, rng.standard_normal((n, 2, units)), ["V1"] * units)
db = p("results.sqlite")
v.run("score", "--features", feat, "--brain", brain, "--db", db, "--bootstrap", "0", "--metrics", "crsa")
with sqlite3.connect(db) as con:
    configs = [r[0] for r in con.execute("SELECT config_json FROM runs")]
check(len(configs) == 1, f"score: one run recorded ({len(configs)})")
for c in configs:
    j = parse("score config_json", c)
    check(j is not None and j["features"] == feat and j["brain"] == brain and j["protocol"] == "default",
          "score config: features and brain paths round-trip")

# --- run: manifest.json with node and output names holding JSON's special characters -------------
node, output = 'relu "one"\\', 'out\\"put\n'
graph = helper.make_graph(
    [helper.make_node("Relu", ["x"], ["h"], name=node), helper.make_node("Neg", ["h"], [output], name="neg")],
    "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
    [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 5])])
model = p("m.onnx")
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
outdir = p("run out")
v.run("run", model, "--input", v.save("in.npy", rng.standard_normal((4, 5)).astype(np.float32)), "--out", outdir)
j = parse_file("manifest.json", os.path.join(outdir, "manifest.json"))
if j is not None:
    names = {e["name"] for e in j}
    outputs = {e["output"] for e in j}
    check(node in names, f"manifest: node name round-trips ({sorted(names)})")
    check(output in outputs, f"manifest: output name round-trips ({sorted(outputs)})")
    check(all(os.path.exists(os.path.join(outdir, e["file"])) for e in j), "manifest: every file listed exists")

# --- compare --json: both input paths ------------------------------------------------------------
ca, cb = p('rsm "a"\\.npy'), p("rsm\tb caf\u00e9.npy")
for path in (ca, cb):
    m = rng.standard_normal((6, 6))
    np.save(path, m + m.T)
j = parse("compare --json", v.run("compare", ca, cb, "--json").stdout)
check(j is not None and j["a"] == ca and j["b"] == cb, "compare --json: both file paths round-trip")

# --- simulate (truth.json) → bench (run configuration) → results export --format json ------------
# One ONNX model whose file, node and bench names carry the special characters; a bench name longer
# than any fixed buffer, so truncation would show. simulate selects --layer by its exact name (glob
# metacharacters escaped), so the node name carries a backslash, '*' and '[' too.
layer = 'act "one"\tcaf\u00e9 \\ * [x]'
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name=layer)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 16, 16])])
sim_model = p('sim "model"\\\tcaf\u00e9.onnx')
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), sim_model)
world = p("world")
v.run("simulate", "--out", world, "--model", sim_model, "--layer", layer, "--stimuli", "40", "--size", "16",
      "--voxels", "20", "--subjects", "1", "--snr", "1,2", "--seed", "1")
j = parse_file("simulate truth.json", os.path.join(world, "truth.json"))
check(j is not None and j["planted_model"] == sim_model and j["planted_layer"] == layer,
      "simulate truth.json: planted model path and layer name round-trip")

bench_name = 'be"nch\\\t\x01caf\u00e9 ' + "x" * 700
model_name = 'mo"del\\\tcaf\u00e9'
bench_db = p("bench.sqlite")
bench_cfg = {"name": bench_name, "db": bench_db, "cache": p("bench cache"),
             "stimuli": os.path.join(world, "nsd_stimuli.hdf5"), "transform": "none", "bootstrap": 0,
             "brain": [os.path.join(world, "subj01.h5")],
             "models": [{"name": model_name, "path": sim_model, "family": model_name}]}
cfg_path = p("bench.yaml")
with open(cfg_path, "w", encoding="utf-8") as f:
    json.dump(bench_cfg, f)  # JSON is YAML; its \t, \" and \u escapes are YAML's double-quoted ones
v.run("bench", cfg_path)
with sqlite3.connect(bench_db) as con:
    configs = [r[0] for r in con.execute("SELECT config_json FROM runs")]
check(len(configs) == 1, f"bench: one run recorded ({len(configs)})")
want = {"name": bench_name, "stimuli": bench_cfg["stimuli"], "brain": bench_cfg["brain"],
        "models": [{"name": model_name, "path": sim_model}]}
for c in configs:
    j = parse("bench config_json", c)
    check(j is not None and {k: j[k] for k in want} == want,
          "bench config: name (not truncated), stimuli, brain and model name and path round-trip exactly")

j = parse("results export --format json", v.run("results", "export", "--db", bench_db, "--format", "json").stdout)
if j is not None:
    check(len(j["runs"]) == 1 and j["runs"][0]["config_json"] == configs[0],
          "results export: the run configuration text round-trips")
    check([(m["name"], m["family"]) for m in j["models"]] == [(model_name, model_name)],
          "results export: model name and family round-trip")
    check(len(j["scores"]) > 0 and all(s["model"] == model_name and s["family"] == model_name and
                                       s["layer_name"] == layer for s in j["scores"]),
          f"results export: every score row's model, family and layer name round-trip ({len(j['scores'])} rows)")
