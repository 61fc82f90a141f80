"""The results database through the CLI: import of a synthetic set of scores, CSV/JSON exports
equal to what was inserted, idempotent re-import, recovery from kill -9 mid-import, layer
selection / subject means / bootstrap CIs / Spearman / grouped comparisons against numpy and
scipy, model-to-model RSA, and clean one-line errors for corrupt or foreign files."""
import json
import os
import signal
import sqlite3
import subprocess
import time

import numpy as np
import scipy.stats

import synth_results as sr
import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
rows = sr.make_rows(seed=0)
src = v.path("scores.csv")
sr.write_csv(src, rows)
db = v.path("r.sqlite")

# ---- import and export round trip ----
r = v.run("results", "import", "--db", db, "--csv", src, "--batch", "200")
vtref.check(f"imported {len(rows)} score rows" in r.stdout, f"import reports its row count: {r.stdout.strip()}")

NUMERIC = {"run_id", "trained", "imagenet_top1", "n_params", "layer_index", "layer_features", "layer_k", "layer_ed",
           "value", "ci_low", "ci_high", "noise_ceiling", "normalised", "selected"}


def key(row):
    return (row["model"], row["model_sha256"], int(row["layer_index"]), row["subject"], row["roi"], row["metric"],
            row["split"])


def same_rows(got, ref, what):
    """Every column equal: strings exactly, numbers as parsed floats (exactly: 17 digits round-trip)."""
    got, ref = sorted(got, key=key), sorted(ref, key=key)
    if len(got) != len(ref):
        vtref.check(False, f"{what}: {len(got)} rows, expected {len(ref)}")
        return
    bad = []
    for g, e in zip(got, ref):
        for c in sr.COLUMNS:
            gv, ev = g[c], e[c]
            if c in NUMERIC:
                gv = None if gv in ("", None) else float(gv)
                ev = None if ev in ("", None) else float(ev)
            if gv != ev:
                bad.append((key(e), c, gv, ev))
    print(f"  {what}: {len(got)} rows x {len(sr.COLUMNS)} columns compared exactly, {len(bad)} differ")
    vtref.check(not bad, f"{what}: first differences {bad[:3]}")


exp_csv = v.path("export.csv")
v.run("results", "export", "--db", db, "--format", "csv", "--out", exp_csv)
exported = sr.read_csv(exp_csv)
vtref.check(list(exported[0].keys()) == sr.COLUMNS, "CSV export has the documented columns in order")
same_rows(exported, rows, "CSV export vs inserted rows")
vtref.check(not [n for n in os.listdir(v.dir) if ".tmp-" in n], "export leaves no temporary file")
order = [key(x) for x in exported]
vtref.check(order == sorted(order, key=lambda k: (k[0], k[1], k[2], k[3], k[4], k[5], k[6])),
            "CSV export is ordered by model, layer, subject, ROI, metric, split")

r = v.run("results", "export", "--db", db, "--format", "json")
doc = json.loads(r.stdout)
vtref.check(doc["schema_version"] == 1 and len(doc["runs"]) == 1 and doc["runs"][0]["status"] == "finished",
            "JSON export: schema version and the imported run")
vtref.check(len(doc["models"]) == len(sr.MODELS) and len(doc["layers"]) == sum(m[7] for m in sr.MODELS),
            "JSON export: every model and layer")
json_rows = [{c: ("" if s[c] is None else (("1" if s[c] else "0") if isinstance(s[c], bool) else s[c]))
              for c in sr.COLUMNS} for s in doc["scores"]]
same_rows(json_rows, rows, "JSON export vs inserted rows")
with open(v.path("stdout.csv"), "w") as f:
    f.write(v.run("results", "export", "--db", db, "--format", "csv").stdout)
vtref.check(open(v.path("stdout.csv")).read() == open(exp_csv).read(), "export to stdout equals export to --out")

# ---- idempotent re-import ----
info1 = v.run("results", "info", "--db", db).stdout
v.run("results", "import", "--db", db, "--csv", src)
v.run("results", "import", "--db", db, "--csv", exp_csv)  # the export itself imports to the same rows
info2 = v.run("results", "info", "--db", db).stdout
exp2 = v.path("export2.csv")
v.run("results", "export", "--db", db, "--format", "csv", "--out", exp2)
print("  " + info2.replace("\n", "\n  ").rstrip())
vtref.check(info1 == info2, "re-importing the same scores adds no row to any table")
vtref.check(open(exp2).read() == open(exp_csv).read(), "re-import leaves the export byte-identical")

# ---- layer selection flag ----
v.run("results", "select", "--db", db)
v.run("results", "export", "--db", db, "--format", "csv", "--out", exp2)
flagged = {(x["model"], x["subject"], x["roi"], x["metric"], x["split"], int(x["layer_index"]))
           for x in sr.read_csv(exp2) if x["selected"] == "1"}
expect = set()
groups_of = {}
for x in rows:
    groups_of.setdefault((x["model"], x["subject"], x["roi"], x["metric"]), []).append(x)
for (model, subj, roi, metric), rs in groups_of.items():
    train = [x for x in rs if x["split"] == "train"]
    best = max(train, key=lambda x: (float(x["value"]), -int(x["layer_index"])))
    for x in rs:
        if x["layer_index"] == best["layer_index"]:
            expect.add((model, subj, roi, metric, x["split"], int(x["layer_index"])))
vtref.check(flagged == expect, f"selected flags: {len(flagged)} set, {len(expect)} expected (ties: lowest layer)")
tie = {f for f in flagged if f[0] == "resnet18"}
vtref.check(tie and all(f[5] == 3 for f in tie), "tied train scores select the lower layer (resnet18 layer 3)")

# ---- analyses against numpy / scipy ----
B, SEED, LEVEL = 200, 7, 0.9
r = v.run("results", "summary", "--db", db, "--json", "--bootstrap", B, "--seed", SEED, "--level", LEVEL)
summary = json.loads(r.stdout)
cells = {(c["metric"], c["roi"]): c for c in summary["cells"]}
vtref.check(sorted(cells) == sorted((m, r_) for m in sr.METRICS for r_ in sr.ROIS), "summary covers every cell")
max_err = {"mean": 0.0, "ci": 0.0, "rho": 0.0, "p": 0.0, "group": 0.0}
for (metric, roi), cell in sorted(cells.items()):
    ref = sr.ranking(rows, metric, roi, B, SEED, LEVEL)
    got = cell["models"]
    vtref.check([m["model"] for m in got] == [m["model"] for m in ref], f"{metric}/{roi}: ranking order")
    for g, e in zip(got, ref):
        ok = g["subjects"] == e["subjects"] and g["layer_index"] == e["layer_index"] and g["test"] == e["test"]
        vtref.check(ok, f"{metric}/{roi}/{e['model']}: selected layers and their test scores")
        for k in ["mean", "norm_mean"]:
            max_err["mean"] = max(max_err["mean"], abs(g[k] - e[k]))
        for k in ["ci_low", "ci_high", "norm_ci_low", "norm_ci_high"]:
            max_err["ci"] = max(max_err["ci"], abs(g[k] - e[k]))
        vtref.check(g["ci_low"] <= g["mean"] <= g["ci_high"], f"{metric}/{roi}/{e['model']}: CI brackets the mean")
        vtref.check(abs(g["ed"] - e["ed"]) <= 1e-12 * abs(e["ed"]), f"{metric}/{roi}/{e['model']}: ED of selection")
    score = np.array([m["mean"] for m in ref])
    for name, xs in [("imagenet_top1", [m["top1"] for m in ref]), ("ed", [m["ed"] for m in ref]),
                     ("n_params", [m["n_params"] for m in ref])]:
        xs = np.array(xs)
        ok = np.isfinite(xs)
        res = scipy.stats.spearmanr(xs[ok], score[ok])
        c = cell["correlations"][name]
        vtref.check(c["n"] == int(ok.sum()), f"{metric}/{roi}: Spearman with {name} over {ok.sum()} models")
        max_err["rho"] = max(max_err["rho"], abs(c["rho"] - res.statistic))
        max_err["p"] = max(max_err["p"], abs(c["p"] - res.pvalue) / res.pvalue)
    for gc in cell["groups"]:
        e = sr.groups(ref, gc["attribute"], B, SEED, LEVEL)
        vtref.check([g["value"] for g in gc["groups"]] == e["values"] and
                    [g["n_models"] for g in gc["groups"]] == e["n"], f"{metric}/{roi}: groups by {gc['attribute']}")
        for g, m, ci in zip(gc["groups"], e["mean"], e["ci"]):
            max_err["group"] = max(max_err["group"], abs(g["mean"] - m), abs(g["ci_low"] - ci[0]),
                                   abs(g["ci_high"] - ci[1]))
        if "diff" in e:
            max_err["group"] = max(max_err["group"], abs(gc["diff"] - e["diff"]),
                                   abs(gc["diff_ci_low"] - e["diff_ci"][0]), abs(gc["diff_ci_high"] - e["diff_ci"][1]))
        else:
            vtref.check(gc["diff"] is None, f"{metric}/{roi}: no difference for {len(e['values'])} groups")
print("  max abs error: means %.3g, bootstrap CIs %.3g, Spearman rho %.3g, p (relative) %.3g, groups %.3g"
      % (max_err["mean"], max_err["ci"], max_err["rho"], max_err["p"], max_err["group"]))
vtref.check(max_err["mean"] <= 1e-12, "subject means equal numpy's (atol 1e-12)")
vtref.check(max_err["ci"] <= 1e-12, "bootstrap CIs equal numpy percentiles of the same draws (atol 1e-12)")
vtref.check(max_err["rho"] <= 1e-12, "Spearman rho equals scipy.stats.spearmanr (atol 1e-12)")
vtref.check(max_err["p"] <= 1e-6, "Spearman p equals scipy.stats.spearmanr (rtol 1e-6)")
vtref.check(max_err["group"] <= 1e-12, "grouped means and CIs equal the reference (atol 1e-12)")

text = v.run("results", "summary", "--db", db, "--metric", "versa", "--roi", "OTC").stdout
print("  " + "\n  ".join(text.splitlines()[:6]))
vtref.check("rank" in text and "swin_t" in text and "Spearman" in text, "summary prints a ranking table")

# ---- model-to-model RSA from stored RSM vectors ----
names = [m[0] for m in sr.MODELS[:5]]
rsms = sr.rsm_vectors(len(names), 30)
lines = ["run_id,model,model_sha256,layer_index,kind,subject,roi,npy"]
for i, name in enumerate(names):
    np.save(v.path(f"rsm{i}.npy"), rsms[i])                      # a full matrix
    np.save(v.path(f"tri{i}.npy"), sr.upper(rsms[i]))            # its upper triangle
    q = '"' + name.replace('"', '""') + '"'
    lines.append(f"1,{q},{'%064x' % (0x1234567 * (i + 1))},2,crsa,,,rsm{i}.npy")
    lines.append(f"1,{q},{'%064x' % (0x1234567 * (i + 1))},3,versa,subj01,OTC,tri{i}.npy")
with open(v.path("rsms.csv"), "w") as f:
    f.write("\n".join(lines) + "\n")
v.run("results", "import", "--db", db, "--rsms", v.path("rsms.csv"), "--embed")
tri = np.array([sr.upper(m) for m in rsms])
ref_p = np.corrcoef(tri)
ref_s = scipy.stats.spearmanr(tri.T).statistic
order = sorted(range(len(names)), key=lambda i: names[i])
for kind, extra, method, ref in [("crsa", [], "pearson", ref_p), ("versa", ["--subject", "subj01", "--roi", "OTC"],
                                                                 "spearman", ref_s)]:
    out = v.path(f"mm_{kind}.npy")
    r = v.run("results", "model-rsa", "--db", db, "--kind", kind, *extra, "--method", method, "--out", out)
    vtref.check(r.stdout.splitlines() == [names[i] for i in order], f"model-rsa {kind}: model order by name")
    vtref.check_close(f"model x model {method} ({kind})", np.load(out), ref[np.ix_(order, order)], atol=1e-12)
# by reference (no --embed): the .npy path is stored and read back
v.run("results", "import", "--db", db, "--rsms", v.path("rsms.csv"))
r = v.run("results", "model-rsa", "--db", db, "--kind", "crsa", "--out", v.path("mm_ref.npy"))
vtref.check_close("model x model from .npy paths", np.load(v.path("mm_ref.npy")), ref_p[np.ix_(order, order)],
                  atol=1e-12)
v.expect_error("model-rsa of an unknown kind", "results", "model-rsa", "--db", db, "--kind", "nope", "--out",
               v.path("x.npy"), contains="at least 2 models")

# ---- kill -9 in the middle of an import, then resume ----
big = []
for run in range(1, 21):
    for x in rows:
        y = dict(x)
        y["run_id"] = str(run)
        big.append(y)
big_csv = v.path("big.csv")
sr.write_csv(big_csv, big)
kdb = v.path("kill.sqlite")
BATCH = 500
p = subprocess.Popen([args.ventral, "results", "import", "--db", kdb, "--csv", big_csv, "--batch", str(BATCH)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seen = 0
t0 = time.time()
while time.time() - t0 < 30 and p.poll() is None:
    try:
        with sqlite3.connect(f"file:{kdb}?mode=ro", uri=True, timeout=5) as c:
            seen = c.execute("SELECT count(*) FROM scores").fetchone()[0]
    except sqlite3.Error:
        seen = 0
    if seen >= 4 * BATCH:
        break
    time.sleep(0.005)
killed = p.poll() is None
if killed:
    os.kill(p.pid, signal.SIGKILL)
p.wait()
print(f"  killed the import after {seen} committed rows of {len(big)}" if killed else "  import finished first")
vtref.check(killed, "the import was killed mid-way (the file was large enough)")
with sqlite3.connect(kdb) as c:
    integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
    n_after_kill = c.execute("SELECT count(*) FROM scores").fetchone()[0]
print(f"  after kill -9: integrity {integrity}, {n_after_kill} rows")
vtref.check(integrity == "ok", "database intact after kill -9")
vtref.check(n_after_kill % BATCH == 0 and n_after_kill < len(big), "only whole transactions survived the kill")
v.run("results", "import", "--db", kdb, "--csv", big_csv, "--batch", str(BATCH))
with sqlite3.connect(kdb) as c:
    n_final = c.execute("SELECT count(*) FROM scores").fetchone()[0]
    n_dupes = c.execute("SELECT count(*) FROM (SELECT run_id, layer_id, subject_id, roi_id, metric_id, split, "
                        "count(*) AS k FROM scores GROUP BY 1, 2, 3, 4, 5, 6 HAVING k > 1)").fetchone()[0]
vtref.check(n_final == len(big) and n_dupes == 0, f"resumed import: {n_final} rows of {len(big)}, {n_dupes} dupes")
v.run("results", "export", "--db", kdb, "--format", "csv", "--out", v.path("big_export.csv"))
same_rows(sr.read_csv(v.path("big_export.csv")), big, "export after kill and resume vs inserted rows")

r = v.run("results", "export", "--db", kdb, "--format", "csv", "--run", "3")
only3 = list(__import__("csv").DictReader(r.stdout.splitlines()))
vtref.check(len(only3) == len(rows) and {x["run_id"] for x in only3} == {"3"}, "export --run selects one run")

# ---- a CSV without run ids goes to one run per file, found again on re-import ----
norun = v.path("norun.csv")
sr.write_csv(norun, rows[:300], columns=[c for c in sr.COLUMNS if c != "run_id"])
ndb = v.path("norun.sqlite")
v.run("results", "import", "--db", ndb, "--csv", norun)
v.run("results", "import", "--db", ndb, "--csv", norun)
with sqlite3.connect(ndb) as c:
    runs = c.execute("SELECT id, status, config_json FROM runs").fetchall()
    n_scores = c.execute("SELECT count(*) FROM scores").fetchone()[0]
print(f"  import without run ids: runs {runs}")
vtref.check(len(runs) == 1 and runs[0][1] == "finished" and json.loads(runs[0][2]) == {"imported_from": norun}
            and n_scores == 300, "rows without run ids: one finished run recording the file, no duplicates")

# ---- clean one-line errors ----
with open(v.path("text.sqlite"), "w") as f:
    f.write("this is not a database\n" * 10)
v.expect_error("a text file", "results", "export", "--db", v.path("text.sqlite"), "--format", "csv",
               contains="not a SQLite database")
good = open(db, "rb").read()
with open(v.path("garbage.sqlite"), "wb") as f:
    f.write(good[:16] + bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8)))
v.expect_error("SQLite header then garbage", "results", "summary", "--db", v.path("garbage.sqlite"),
               contains="garbage.sqlite")
with open(v.path("trunc.sqlite"), "wb") as f:
    f.write(good[:100])
v.expect_error("a truncated database", "results", "info", "--db", v.path("trunc.sqlite"), contains="trunc.sqlite")
with sqlite3.connect(v.path("foreign.sqlite")) as c:
    c.execute("CREATE TABLE t(x)")
v.expect_error("another program's database", "results", "export", "--db", v.path("foreign.sqlite"), "--format",
               "json", contains="not a ventral results database")
with sqlite3.connect(v.path("future.sqlite")) as c:
    c.execute("CREATE TABLE t(x)")
    c.execute("PRAGMA user_version = 99")
v.expect_error("a newer schema", "results", "info", "--db", v.path("future.sqlite"), contains="newer")
v.expect_error("a missing database", "results", "export", "--db", v.path("none.sqlite"), "--format", "csv",
               contains="cannot open")
vtref.check(not os.path.exists(v.path("none.sqlite")), "export does not create a missing database")
v.expect_error("an unknown format", "results", "export", "--db", db, "--format", "xml", contains="csv or json")

fresh = v.path("fresh.sqlite")
bad = v.path("bad.csv")
sr.write_csv(bad, rows[:50] + [dict(rows[50], value="abc")])
v.expect_error("a non-numeric value", "results", "import", "--db", fresh, "--csv", bad, "--batch", "0",
               contains="line 52")
with sqlite3.connect(fresh) as c:
    vtref.check(c.execute("SELECT count(*) FROM scores").fetchone()[0] == 0, "a failed import commits nothing")
sr.write_csv(bad, rows[:5] + [dict(rows[5], split="valid")])
v.expect_error("an unknown split", "results", "import", "--db", fresh, "--csv", bad, contains="split")
sr.write_csv(bad, rows[:5], columns=[c for c in sr.COLUMNS if c != "value"])
v.expect_error("a missing column", "results", "import", "--db", fresh, "--csv", bad, contains="'value'")
with open(bad, "w") as f:
    f.write(",".join(sr.COLUMNS) + '\n1,"unterminated\n')
v.expect_error("an unterminated quote", "results", "import", "--db", fresh, "--csv", bad, contains="quote")
