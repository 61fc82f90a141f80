"""`ventral gsn` against the GSN package (fixtures from make_gsn_fixtures.py) and against planted truth.

1. Package parity: on the committed fixtures, mnS, ncsnr, cN, cS, cNb, cSb agree with
   perform_gsn's numpy path to 1e-6 relative (plus 1e-10 of the matrix's largest entry, for
   entries that cancel to ~0), shrinkage levels exactly and iteration counts equal. The RSA
   ceiling (Monte-Carlo) agrees with rsa_noise_ceiling's spread over 20 seeds; the exhaustive
   split-half reliability is deterministic and agrees to 1e-9.
2. Known covariances: data simulated from C_s, C_n recover them (cSb, cNb, ncsnr), and the
   estimated RSA ceiling is within 0.03 of the true ceiling simulated from C_s, C_n.
3. Determinism: the ceiling is bit-identical for 1 and 2 threads.
4. Bad input gives a one-line error and a non-zero exit, and writes nothing.
"""
import json
import os

import numpy as np
from scipy.spatial.distance import pdist

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
fix = os.path.join(os.environ["VENTRAL_FIXTURES"], "gsn")
expected = json.load(open(os.path.join(fix, "expected.json")))
print(f"fixtures from {expected['package']} (numpy {expected['numpy']})")


def run_gsn(data_path, *flags, env=None):
    out = v.path("out")
    r = v.run("gsn", data_path, "-o", out, *flags, env=env)
    if r.returncode != 0:
        return None, None
    arrays = {k: np.load(os.path.join(out, f"{k}.npy")) for k in ["mnS", "mnN", "ncsnr", "cN", "cS", "cNb", "cSb"]}
    return arrays, json.load(open(os.path.join(out, "gsn.json")))


# ---- 1. parity with the package ----
for name, exp in expected["perform"].items():
    print(f"case {name} {exp['flags']}")
    got, meta = run_gsn(os.path.join(fix, f"{name}_data.npy"), *exp["flags"])
    if got is None:
        continue
    for k in ["mnS", "ncsnr", "cN", "cS", "cNb", "cSb"]:
        ref = np.load(os.path.join(fix, f"{name}_{k}.npy"))
        vtref.check_close(f"{name} {k}", got[k], ref, atol=1e-10 * np.abs(ref).max(), rtol=1e-6)
    vtref.check_close(f"{name} mnN (zero)", got["mnN"], np.zeros_like(got["mnS"]), atol=0, rtol=0)
    for k in ["shrinklevelN", "shrinklevelD"]:
        vtref.check_close(f"{name} {k}", meta[k], exp[k], atol=1e-12, rtol=0)
    vtref.check(meta["numiters"] == exp["numiters"], f"{name} numiters {meta['numiters']} != {exp['numiters']}")

rsa_path = os.path.join(fix, "rsa_data.npy")
for key, ref in expected["rsa"].items():
    scale = ref["scale"]
    ours = []
    for seed in range(5):
        _, meta = run_gsn(os.path.join(fix, ref["data"]), "--rsa-ceiling", "--scale", scale, "--seed", seed)
        if meta is None:
            break
        ours.append(meta["rsa_ceiling"])
    if len(ours) < 5:
        continue
    nc = np.array([o["nc"] for o in ours])
    rmean, rsd, k = ref["nc_mean"], ref["nc_sd"], len(ref["nc"])
    # The two means differ by Monte-Carlo error only: 4 standard errors of the difference.
    tol = 4 * np.sqrt(rsd**2 / k + nc.std(ddof=1) ** 2 / len(nc))
    print(f"  rsa {key}: ventral nc {nc.mean():.4f} +- {nc.std(ddof=1):.4f} (5 seeds), package {rmean:.4f} "
          f"+- {rsd:.4f} ({k} seeds); |difference| {abs(nc.mean() - rmean):.4f} <= {tol:.4f}")
    vtref.check(abs(nc.mean() - rmean) <= tol, f"rsa {key}: mean ceiling outside the Monte-Carlo spread")
    vtref.check(np.all(np.abs(nc - rmean) <= 5 * rsd), f"rsa {key}: a single ceiling beyond 5 sd of the package's")
    sc = [o["sc"] for o in ours]
    lo, hi = min(ref["sc"]) - 0.1 - 1e-9, max(ref["sc"]) + 0.1 + 1e-9
    print(f"  rsa {key}: ventral sc {sorted(set(sc))}, package sc in [{min(ref['sc']):.4g}, {max(ref['sc']):.4g}]")
    vtref.check(all(lo <= s <= hi for s in sc), f"rsa {key}: scale outside the package's range +- one grid step")
    if "splitr" in ref:
        vtref.check(ours[0]["split_exhaustive"], "rsa split-half: 4 trials use the exhaustive split")
        vtref.check_close("rsa splitr (exhaustive, deterministic)", ours[0]["splitr"], ref["splitr"], atol=1e-9,
                          rtol=0)


# ---- 2. planted truth ----
def rdm_corr(m):
    return pdist(m, "correlation")


def true_ceiling(mu, cs, cn, ntrials, nconds=50, nsims=2000, seed=7):
    """The ceiling the model defines, simulated from the true covariances."""
    g = np.random.default_rng(seed)
    ls, ln = np.linalg.cholesky(cs), np.linalg.cholesky(cn / ntrials)
    vals = np.empty(nsims)
    for i in range(nsims):
        sig = mu + g.standard_normal((nconds, len(mu))) @ ls.T
        meas = sig + g.standard_normal((nconds, len(mu))) @ ln.T
        vals[i] = np.corrcoef(rdm_corr(sig), rdm_corr(meas))[0, 1]
    return np.median(vals)


g = np.random.default_rng(11)
n, c, t = 20, 600, 4
a = g.standard_normal((n, n)) / np.sqrt(n)
cs = 0.6 * (a @ a.T) + 0.15 * np.eye(n)
idx = np.arange(n)
cn = 1.0 * 0.5 ** np.abs(idx[:, None] - idx[None, :])  # AR(1)-correlated noise
mu = g.standard_normal(n) * 0.5
signal = mu + g.multivariate_normal(np.zeros(n), cs, c)
data = np.stack([(signal + g.multivariate_normal(np.zeros(n), cn, c)).T for _ in range(t)], axis=2)
sim_path = v.save("planted.npy", data)
got, meta = run_gsn(sim_path, "--rsa-ceiling", "--scale", "none", "--sims", 400, "--seed", 3)
if got is not None:
    def rel(x, ref):
        return np.linalg.norm(x - ref) / np.linalg.norm(ref)

    e_s, e_n = rel(got["cSb"], cs), rel(got["cNb"], cn)
    true_ncsnr = np.sqrt(np.diag(cs) / np.diag(cn))
    e_snr = np.max(np.abs(got["ncsnr"] - true_ncsnr) / true_ncsnr)
    e_mu = np.max(np.abs(got["mnS"] - mu))
    print(f"  planted: |cSb - Cs|/|Cs| {e_s:.3f}, |cNb - Cn|/|Cn| {e_n:.3f}, max rel ncsnr error {e_snr:.3f}, "
          f"max |mnS - mu| {e_mu:.3f}")
    # Tolerance: the RMS Frobenius error of a plain sample covariance with the same degrees of
    # freedom, E|S - C|^2 = (tr(C)^2 + tr(C^2)) / dof, times 1.25. The noise estimate pools
    # c * (t - 1) dof; the signal estimate is the covariance of c condition means (C_s + C_n / t).
    def sampling_err(cov, dof, ref):
        return np.sqrt((np.trace(cov) ** 2 + np.sum(cov * cov)) / dof) / np.linalg.norm(ref)

    tol_s, tol_n = 1.25 * sampling_err(cs + cn / t, c - 1, cs), 1.25 * sampling_err(cn, c * (t - 1), cn)
    print(f"  planted: tolerances (1.25 x sampling error) signal {tol_s:.3f}, noise {tol_n:.3f}")
    vtref.check(e_s < tol_s, "planted: signal covariance within its sampling error (Frobenius)")
    vtref.check(e_n < tol_n, "planted: noise covariance within its sampling error (Frobenius)")
    vtref.check(e_snr < 0.15, "planted: ncsnr within 15% per unit")
    vtref.check(e_mu < 0.2, "planted: signal mean within 0.2 (sd of a mean of 600 draws ~0.04)")
    nc_true = true_ceiling(mu, cs, cn, t)
    nc_none = meta["rsa_ceiling"]["nc"]
    _, meta2 = run_gsn(sim_path, "--rsa-ceiling", "--sims", 200, "--seed", 3)
    nc_split = meta2["rsa_ceiling"]["nc"] if meta2 else np.nan
    print(f"  planted ceiling: true {nc_true:.4f}; ventral (no scaling) {nc_none:.4f}, "
          f"(split-half scaling, sc {meta2['rsa_ceiling']['sc'] if meta2 else '?'}) {nc_split:.4f}")
    vtref.check(abs(nc_none - nc_true) < 0.03, "planted: ceiling (no scaling) within 0.03 of the truth")
    vtref.check(abs(nc_split - nc_true) < 0.03, "planted: ceiling (split-half scaling) within 0.03 of the truth")

# ---- 3. thread-count independence ----
runs = []
for threads in ["1", "2"]:
    _, meta = run_gsn(rsa_path, "--rsa-ceiling", "--sims", 60, "--seed", 5, env={"VENTRAL_THREADS": threads})
    runs.append((meta, np.load(os.path.join(v.path("out"), "ncdist.npy")) if meta else None))
if runs[0][0] and runs[1][0]:
    vtref.check(np.array_equal(runs[0][1], runs[1][1]) and runs[0][0]["rsa_ceiling"] == runs[1][0]["rsa_ceiling"],
                "ceiling bit-identical with 1 and 2 threads")
    same = np.array_equal(runs[0][1], runs[1][1])
    print(f"  1 vs 2 threads: ncdist {'bit-identical' if same else 'differs'}")

# ---- 4. bad input ----
good = np.random.default_rng(0).standard_normal((6, 10, 3))


def bad(what, array, contains, *flags):
    p = v.save("bad.npy", array)
    out = v.path("bad_out")
    v.expect_error(what, "gsn", p, "-o", out, *flags, contains=contains)
    vtref.check(not os.path.exists(out), f"{what}: no output written")


bad("2-d array", good[:, :, 0], "3-d")
bad("one trial", good[:, :, :1], "at least 2 trials")
x = good.copy()
x[:, :, 1:] = np.nan
bad("fewer than 2 complete trials in every condition", x, "at least 2 complete trials")
x = good.copy()
x[:, 4, :] = np.nan
bad("a condition that is NaN everywhere", x, "condition 4")
x = good.copy()
x[2, 3, 1] = np.inf
bad("Inf", x, "Inf at [2, 3, 1]")
bad("two conditions", good[:, :2, :], "at least 3 conditions")
x = good.copy()
x[:, 1, 2] = np.nan
bad("split-half scaling with missing trials", x, "complete trials", "--rsa-ceiling")
bad("one unit RSA", good[:1], "at least 2 units", "--rsa-ceiling")
p = v.save("ok.npy", good)
r = v.run("gsn", p, expect_ok=False)
vtref.check(r.returncode == 2 and "-o DIR" in r.stderr, "missing -o is a usage error (exit 2)")
r = v.run("gsn", p, "-o", v.path("o3"), "--rsa-ceiling", "--sims", "0", expect_ok=False)
vtref.check(r.returncode == 2, "--sims 0 is a usage error")
v.expect_error("missing file", "gsn", v.path("nope.npy"), "-o", v.path("o4"), contains="nope.npy")
