"""`ventral demo` (README command 1) end to end at a reduced size: simulate a world whose voxels read out
/Relu_3 of the bundled tinycnn, benchmark the five bundled models against it, write the report, print
the ranking. The planted model must rank first by veRSA and by encoding, every table must list the
five models, the report page must exist and be the path printed last, and a second run into the same
folder must be served from the feature cache."""
import os
import re

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
out = v.path("demo")
r = v.run("demo", "--out", out, "--stimuli", "60", "--subjects", "2", "--voxels", "60")
tables = {}
for block in r.stdout.split("\n\n"):
    lines = [l for l in block.splitlines() if l.strip()]
    if lines and lines[0].split()[0] in ("versa", "crsa", "encoding"):
        tables[lines[0].split()[0]] = [l.split()[0] for l in lines[1:]]
print("  rankings:", tables)
vtref.check(sorted(tables) == ["crsa", "encoding", "versa"], "a table per metric")
for metric, models in tables.items():
    vtref.check(sorted(models) == sorted(["tinycnn", "tinycnn_random", "tinymlp_random", "tinyresnet", "tinyvit"]),
                f"{metric}: the five bundled models are ranked")
for metric in ("versa", "encoding"):
    vtref.check(tables.get(metric, [""])[0] == "tinycnn", f"{metric}: the planted model ranks first")
vtref.check(re.search(r"\[\s*-?\d\.\d{3},\s*-?\d\.\d{3}\]", r.stdout) is not None, "95% CIs over the two subjects")
last = r.stdout.strip().splitlines()[-1]
page = os.path.join(out, "report", "index.html")
vtref.check(last == f"report: {page}", f"ends with the report's path: {last!r}")
vtref.check(os.path.getsize(page) > 1000 and "<img" in open(page).read(), "the report page has figures")
again = v.run("demo", "--out", out, "--stimuli", "60", "--subjects", "2", "--voxels", "60")
hits = again.stderr.count("features from the cache")
vtref.check(hits == 5 and ": extracted" not in again.stderr,
            f"a second demo in the same folder is served from the feature cache ({hits} of 5 models)")
