"""Writes the GSN reference fixtures (tests/fixtures/gsn/) from the reference package itself.

The package (cvnlab/GSN) is never vendored: point this script at a checkout or `git archive`
extracted outside the repository, e.g.

    git --git-dir=/path/to/GSN/.git archive HEAD gsn | tar -x -C /tmp/gsnpkg
    /usr/bin/python3 tests/reference/make_gsn_fixtures.py --gsn /tmp/gsnpkg [--out tests/fixtures/gsn]

It records, for a few small data sets (inputs included), perform_gsn's numpy-path outputs
(mnS, ncsnr, cN, cS, cNb, cSb as .npy; shrinkage levels and iteration counts in expected.json)
and the spread of rsa_noise_ceiling over many seeds (the ceiling is Monte-Carlo, so the test
compares against that spread, not a single draw). Everything stays well under 1 MB.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--gsn", required=True, help="directory containing the gsn package (the repository root)")
ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "gsn"))
ap.add_argument("--rsa-seeds", type=int, default=20, help="reference runs per RSA setting")
args = ap.parse_args()

sys.path.insert(0, os.path.abspath(args.gsn))
import gsn.batched_nll  # noqa: E402

# The numpy path is the reference: keep calc_shrunken_covariance (used by rsa_noise_ceiling)
# off the optional torch fast path as well.
gsn.batched_nll._HAS_TORCH = False
from gsn.perform_gsn import perform_gsn  # noqa: E402
from gsn.rsa_noise_ceiling import rsa_noise_ceiling  # noqa: E402

warnings.simplefilter("ignore")
out = os.path.abspath(args.out)
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20240611)


def simulate(n, c, t, signal_scale=1.0, noise_scale=1.0):
    """units x conditions x trials with a dense signal covariance and correlated noise."""
    a = rng.standard_normal((n, n)) / np.sqrt(n)
    cs = signal_scale * (a @ a.T + 0.2 * np.eye(n))
    b = rng.standard_normal((n, n)) / np.sqrt(n)
    cn = noise_scale * (0.5 * b @ b.T + 0.5 * np.eye(n))
    sig = rng.multivariate_normal(rng.standard_normal(n), cs, c)
    return np.stack([(sig + rng.multivariate_normal(np.zeros(n), cn, c)).T for _ in range(t)], axis=2)


def package_version():
    try:
        r = subprocess.run(["git", "-C", args.gsn, "rev-parse", "HEAD"], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.strip()
    except OSError:
        pass
    return "unknown (not a git checkout)"


uneven = simulate(15, 30, 4)
for cond in range(30):  # 4, 3 or 2 complete trials, a few conditions with only 1
    k = int(rng.integers(0, 3))
    if k:
        uneven[:, cond, 4 - k:] = np.nan
uneven[:, 5, 1:] = np.nan  # a condition with a single trial
uneven[:, 11, 1:] = np.nan
uneven[3, 7, 0] = np.nan  # one missing unit makes the whole trial missing

cases = {
    # name: (data, perform_gsn options, ventral flags)
    "even": (simulate(20, 40, 3), {}, []),
    "noshrink": (simulate(12, 25, 3), {"wantshrinkage": 0}, ["--no-shrinkage"]),
    "wide": (simulate(50, 30, 2, noise_scale=2.0), {}, []),  # more units than conditions
    "uneven": (uneven, {}, []),
    "oneunit": (simulate(1, 30, 3), {}, []),
}

expected = {
    "package": "cvnlab/GSN " + package_version(),
    "numpy": np.__version__,
    "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "perform": {},
    "rsa": {},
}
for name, (data, opt, flags) in cases.items():
    res = perform_gsn(data, {"wantverbose": 0, "backend": "numpy", **opt})
    np.save(os.path.join(out, f"{name}_data.npy"), data)
    for k in ["mnS", "ncsnr", "cN", "cS", "cNb", "cSb"]:
        np.save(os.path.join(out, f"{name}_{k}.npy"), np.asarray(res[k], dtype=np.float64).reshape(
            (data.shape[0], data.shape[0]) if k.startswith("c") else (data.shape[0],)))
    expected["perform"][name] = {
        "flags": flags,
        "shrinklevelN": float(res["shrinklevelN"]),
        "shrinklevelD": float(res["shrinklevelD"]),
        "numiters": int(res["numiters"]),
    }
    print(f"{name}: {data.shape} shrinklevelN {res['shrinklevelN']} shrinklevelD {res['shrinklevelD']} "
          f"numiters {res['numiters']}")

# RSA noise ceiling: 4 trials (the package's exhaustive split-half path), default settings.
rsa_data = simulate(30, 40, 4, signal_scale=0.3)
np.save(os.path.join(out, "rsa_data.npy"), rsa_data)
# Missing trials are allowed only without split-half scaling (the package's mode 1).
for key, mode, scale, name in [("split-half", 0, "split-half", "rsa"), ("none", 1, "none", "rsa"),
                               ("variance", 2, "variance", "rsa"), ("none-uneven", 1, "none", "uneven")]:
    data = np.load(os.path.join(out, f"{name}_data.npy"))
    ncs, scs, splitrs = [], [], []
    t0 = time.time()
    for seed in range(args.rsa_seeds):
        np.random.seed(seed)
        nc, _, res = rsa_noise_ceiling(data.copy(), {"wantverbose": 0, "wantfig": 0, "mode": mode})
        ncs.append(float(nc))
        scs.append(float(res["sc"]))
        if mode == 0:
            splitrs.append(float(np.ravel(res["splitr"])[0]))
    entry = {"data": f"{name}_data.npy", "scale": scale, "nc": ncs, "sc": scs, "nc_mean": float(np.mean(ncs)),
             "nc_sd": float(np.std(ncs, ddof=1))}
    if splitrs:
        entry["splitr"] = splitrs[0]  # exhaustive: identical for every seed
        assert max(splitrs) - min(splitrs) < 1e-12
    expected["rsa"][key] = entry
    print(f"rsa {key}: nc {entry['nc_mean']:.4f} +- {entry['nc_sd']:.4f} sc {sorted(set(scs))} "
          f"({(time.time() - t0) / args.rsa_seeds:.2f} s per run)")

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
total = sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))
print(f"wrote {len(os.listdir(out))} files, {total / 1024:.0f} KiB, to {out}")
