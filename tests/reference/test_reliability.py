"""ventral reliability against an independent numpy computation of METHODS §7 and planted truths.

NCSNR (Allen et al. 2022), the NSD noise ceiling with mixed trial counts, and split-half
reliability with Spearman-Brown correction. The split-half reference re-derives every split from
DIR/split_orders.npy (the repetition order of each split) with plain numpy, so it checks the
half assignment, the exclusion of stimuli with < 2 trials, the correlation and the averaging.
Tolerance: 1e-6 relative in float64 (errors seen are ~1e-14); NaN and +-Inf must match exactly.
"""
import glob
import os

import numpy as np

from vtref import Ventral, check, check_close, parse_args

args = parse_args()
V = Ventral(args.ventral)
rng = np.random.default_rng(777)


def run(r, *opts, name="rel", threads=None):
    rp = V.save(f"{name}.npy", r)
    out = V.path(f"{name}_out")
    pre = ["--threads", str(threads)] if threads else []
    res = V.run(*pre, "reliability", rp, "-o", out, *opts)
    if res.returncode != 0:
        return None
    return {k: np.load(os.path.join(out, k + ".npy")) for k in ("ncsnr", "noise_ceiling", "split_half", "split_orders")}


def ref_ncsnr(R):
    """Per unit, straight from METHODS §7 (no shared code with ventral)."""
    R = np.asarray(R, dtype=np.float64)
    units = R.shape[2]
    ncsnr, nc = np.full(units, np.nan), np.full(units, np.nan)
    for u in range(units):
        d = R[:, :, u]
        t = (~np.isnan(d)).sum(1)
        multi = d[t >= 2]
        if multi.shape[0] == 0 or t.sum() < 2:
            continue
        noise = np.mean([np.var(row[~np.isnan(row)], ddof=1) for row in multi])
        total = np.var(d[~np.isnan(d)], ddof=1)
        signal = max(0.0, total - noise)
        with np.errstate(divide="ignore", invalid="ignore"):
            ncsnr[u] = np.sqrt(signal) / np.sqrt(noise)
        # NSD: (A/3 + B/2 + C/1)/(A + B + C) for A, B, C stimuli with 3, 2, 1 trials; generally mean of 1/t.
        counts = t[t >= 1]
        f = np.mean(1.0 / counts)
        if np.isnan(ncsnr[u]):
            continue
        nc[u] = 100.0 if np.isinf(ncsnr[u]) else 100 * ncsnr[u] ** 2 / (ncsnr[u] ** 2 + f)
    return ncsnr, nc


def ref_split_half(R, orders):
    R = np.asarray(R, dtype=np.float64)
    S, n, reps = orders.shape
    out = np.full(R.shape[2], np.nan)
    for u in range(R.shape[2]):
        vals = []
        for s in range(S):
            a, b = [], []
            for i in range(n):
                avail = [q for q in orders[s, i] if not np.isnan(R[i, q, u])]
                t = len(avail)
                if t < 2:
                    continue  # a stimulus needs a trial in each half
                a.append(np.mean([R[i, q, u] for q in avail[: t // 2]]))  # odd t: the extra trial goes to B
                b.append(np.mean([R[i, q, u] for q in avail[t // 2:]]))
            a, b = np.array(a), np.array(b)
            if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
                continue
            r = np.clip(np.corrcoef(a, b)[0, 1], -1, 1)
            with np.errstate(divide="ignore"):
                vals.append(2 * r / (1 + r))  # r = -1 (e.g. unit 2 below, a fixed per-stimulus sum) -> -inf
        if vals:
            out[u] = np.mean(vals)
    return out


def same_nan_inf(what, got, ref):
    ok = np.array_equal(np.isnan(got), np.isnan(ref)) and np.array_equal(np.isinf(got), np.isinf(ref))
    ok = ok and np.array_equal(got[np.isinf(got)], ref[np.isinf(ref)])
    check(ok, f"{what}: NaN/Inf pattern matches the reference")
    return np.where(np.isfinite(ref), ref, 0), np.where(np.isfinite(got), got, 0)


def compare_all(what, R, res, rtol=1e-6):
    ncsnr, nc = ref_ncsnr(R)
    sh = ref_split_half(R, res["split_orders"])
    for name, got, ref in (("ncsnr", res["ncsnr"], ncsnr), ("noise_ceiling", res["noise_ceiling"], nc),
                           ("split_half", res["split_half"], sh)):
        check(got.dtype == np.float64 and got.shape == (R.shape[2],), f"{what} {name}: float64 of shape (units,)")
        r, g = same_nan_inf(f"{what} {name}", got, ref)
        check_close(f"{what} {name}", g, r, atol=1e-12, rtol=rtol)


print("adversarial random data: ties, missing repetitions (counts 3/2/1/0), special units")
n, reps, units = 40, 3, 30
R = np.round(rng.standard_normal((n, 1, units)) + rng.standard_normal((n, reps, units)), 1)  # ties
# Mixed counts: drop 0, 1 or 2 repetitions per (stimulus, unit), sometimes all three.
drop = rng.integers(0, 3, size=(n, units))
for i in range(n):
    for u in range(units):
        R[i, rng.permutation(reps)[: drop[i, u]], u] = np.nan
R[5, :, 3] = np.nan  # a stimulus with no trials for unit 3
R[:, :, 0] = 4.25  # constant unit: 0/0 -> NaN
R[:, :, 1] = np.repeat(np.arange(n, dtype=float)[:, None], reps, 1)  # noiseless: ncsnr inf, NC 100
R[:, :, 2] = np.array([-1.0, 0.0, 1.0])[None, :] + 2.0  # zero signal: total var < noise var -> 0
R[:, 1:, 4] = np.nan  # one trial per stimulus: no noise estimate -> NaN
R[:, :, 5] = rng.standard_normal((n, reps))  # a full unit, all three trials
res = run(R)
compare_all("float64", R, res)
check(np.isnan(res["ncsnr"][0]) and np.isnan(res["split_half"][0]), "constant unit gives NaN")
check(np.isinf(res["ncsnr"][1]) and res["noise_ceiling"][1] == 100, "noiseless unit: ncsnr inf, NC 100")
check(res["ncsnr"][2] == 0 and res["noise_ceiling"][2] == 0, "zero-signal unit: ncsnr 0, NC 0")
check(np.isnan(res["ncsnr"][4]) and np.isnan(res["split_half"][4]), "single-trial unit: NaN")
# The NSD mixed-count formula itself, for one unit with known counts.
t6 = (~np.isnan(R[:, :, 6])).sum(1)
A, B, C = (t6 == 3).sum(), (t6 == 2).sum(), (t6 == 1).sum()
f = (A / 3 + B / 2 + C / 1) / (A + B + C)
s2 = res["ncsnr"][6] ** 2
check_close("NC of unit 6 from NSD's (A/3+B/2+C)/(A+B+C)", res["noise_ceiling"][6], 100 * s2 / (s2 + f), rtol=1e-12)
print(f"  unit 6: A={A} B={B} C={C}, f={f:.4f}")

print("float32 input and integer (NSD int16-style) input")
R32 = R.astype(np.float32)
compare_all("float32", R32, run(R32, name="rel32"))
Ri = (rng.standard_normal((30, 3, 12)) * 300).astype(np.int16)
compare_all("int16", Ri, run(Ri, name="reli"))

print("split orders: permutations, a pure function of the seed, thread-count independent")
Rbig = rng.standard_normal((60, 4, 300))
Rbig[rng.random(Rbig.shape) < 0.2] = np.nan
a = run(Rbig, "--splits", 7, "--seed", 5, name="big", threads=1)
b = run(Rbig, "--splits", 7, "--seed", 5, name="big2", threads=2)
c = run(Rbig, "--splits", 7, "--seed", 6, name="big3")
o = a["split_orders"]
check(o.shape == (7, 60, 4) and o.dtype == np.int32, "split_orders is int32 splits x stimuli x reps")
check(np.all(np.sort(o, axis=2) == np.arange(4)), "every order is a permutation of the repetitions")
check(all(np.array_equal(a[k], b[k]) for k in a), "identical outputs with --threads 1 and 2")
check(not np.array_equal(o, c["split_orders"]), "another seed gives other splits")
first = np.bincount(o[:, :, 0].ravel(), minlength=4)
check(np.all(np.abs(first - o[:, :, 0].size / 4) < 5 * np.sqrt(o[:, :, 0].size * 3 / 16)),
      f"first position uniform over repetitions ({first.tolist()})")
compare_all("300 units, 20% missing, 7 splits", Rbig, a)

print("planted signal and noise: ncsnr recovers sigma_s/sigma_n, NC and split-half their closed forms")
# Units are independent replicates with one truth each, so their spread is the sampling error.
n, reps, units, sig, noi = 2000, 3, 200, 0.6, 1.0
Rs = rng.standard_normal((n, 1, units)) * sig + rng.standard_normal((n, reps, units)) * noi
sim = run(Rs, name="sim")
est = sim["ncsnr"]
tol = 5 * est.std() / np.sqrt(units)
print(f"  ncsnr mean {est.mean():.4f} (truth {sig / noi}), per-unit sd {est.std():.4f}, 5-se band {tol:.4f}")
check(abs(est.mean() - sig / noi) <= tol, "mean ncsnr within 5 standard errors of sigma_s/sigma_n")
nc_true = 100 * (sig / noi) ** 2 / ((sig / noi) ** 2 + 1 / reps)
tol = 5 * sim["noise_ceiling"].std() / np.sqrt(units)
print(f"  NC mean {sim['noise_ceiling'].mean():.3f}% (truth {nc_true:.3f}%), 5-se band {tol:.3f}")
check(abs(sim["noise_ceiling"].mean() - nc_true) <= tol, "mean noise ceiling within 5 se of the truth")
# Mixed counts (3/2/1): the truth uses f = mean of 1/t per unit.
Rm = Rs.copy()
keep = rng.integers(1, 4, size=(n, units))
for q in range(reps):
    Rm[:, q, :][keep <= q] = np.nan
simm = run(Rm, name="simm")
fu = np.mean(1.0 / keep, axis=0)
nc_true_u = 100 * (sig / noi) ** 2 / ((sig / noi) ** 2 + fu)
d = simm["noise_ceiling"] - nc_true_u
tol = 5 * d.std() / np.sqrt(units)
print(f"  mixed counts: NC - truth mean {d.mean():.3f} (5-se band {tol:.3f}); ncsnr mean {simm['ncsnr'].mean():.4f}")
check(abs(d.mean()) <= tol, "mixed-count noise ceiling within 5 se of the truth")
check(abs(simm["ncsnr"].mean() - sig / noi) <= 5 * simm["ncsnr"].std() / np.sqrt(units), "mixed-count ncsnr")
# 4 repetitions split 2 + 2: Spearman-Brown gives the reliability of the 4-trial mean, s2/(s2 + n2/4).
R4 = rng.standard_normal((1000, 1, 100)) * 0.5 + rng.standard_normal((1000, 4, 100))
s4 = run(R4, "--splits", 10, name="sim4")["split_half"]
truth = 0.25 / (0.25 + 1 / 4)
tol = 5 * s4.std() / np.sqrt(100)
print(f"  split-half (4 reps) mean {s4.mean():.4f}, truth {truth:.4f}, 5-se band {tol:.4f}")
check(abs(s4.mean() - truth) <= tol, "split-half recovers the 4-trial reliability")

print("bad inputs: one-line errors, non-zero exit, no output directory")
inf = rng.standard_normal((5, 3, 4))
inf[2, 1, 3] = -np.inf
cases = [
    ("2-d input", rng.standard_normal((5, 3)), [], "3-d"),
    ("4-d input", rng.standard_normal((5, 3, 2, 2)), [], "3-d"),
    ("one stimulus too few", rng.standard_normal((1, 3, 4)), [], "2 stimuli"),
    ("one repetition", rng.standard_normal((5, 1, 4)), [], "2 repetitions"),
    ("no units", np.zeros((5, 3, 0)), [], "no units"),
    ("-Inf in R", inf, [], "-inf at stimulus 2, repetition 1, unit 3"),
    ("--splits 0", rng.standard_normal((5, 3, 4)), ["--splits", 0], "splits"),
    ("--seed -1", rng.standard_normal((5, 3, 4)), ["--seed", -1], "seed"),
    ("string dtype", np.array([[["a"]]]), [], None),
]
for what, x, opts, contains in cases:
    rp = V.save("bad.npy", x)
    out = V.path("bad_out")
    V.expect_error(what, "reliability", rp, "-o", out, *opts, contains=contains)
    check(not glob.glob(out + "*"), f"{what}: no output left behind")
V.expect_error("missing file", "reliability", V.path("none.npy"), "-o", V.path("o"), contains="none.npy")
V.expect_error("no -o", "reliability", V.save("ok.npy", np.ones((3, 2, 2))), contains="-o")
