"""ventral srp against closed forms and scikit-learn's SparseRandomProjection (METHODS §3).

R itself is read back by projecting the identity: srp(I_p) = R, exactly (each output element is a
single ±1 scaled once). Statistical checks use 5-sigma bounds unless stated, so a correct
implementation fails one of them with probability well under 1e-5.
"""
import glob
import os

import numpy as np
from scipy import stats
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim

from vtref import Ventral, check, check_close, parse_args

args = parse_args()
V = Ventral(args.ventral)
rng = np.random.default_rng(20260101)


def srp(x, *opts, name="X", threads=None):
    xp = V.save(f"{name}.npy", x)
    zp = V.path(f"{name}_Z.npy")
    pre = ["--threads", str(threads)] if threads else []
    r = V.run(*pre, "srp", xp, "-o", zp, *opts)
    return (np.load(zp) if r.returncode == 0 else None), r


def read_r(p, k, seed):
    z, _ = srp(np.eye(p), "-k", k, "--seed", seed, name=f"I{p}_{k}_{seed}")
    return z


print("k from --eps equals sklearn.random_projection.johnson_lindenstrauss_min_dim")
for n, eps in [(1000, 0.1), (2, 0.5), (10, 0.3), (100, 0.25), (5000, 0.9), (777, 0.123), (50, 0.99), (3, 0.01)]:
    ref = int(johnson_lindenstrauss_min_dim(n, eps=eps))
    # Few features: the note names k and the features are copied; enough features: Z has k columns.
    z, r = srp(np.ones((n, 2)), "--eps", eps, name="jl")
    got_note = f"k = {ref}:" in r.stderr
    ok = got_note
    if ref < 3000:
        z, r = srp(rng.standard_normal((n, ref + 1)), "--eps", eps, name="jl2")
        ok = ok and z is not None and z.shape == (n, ref)
    print(f"  n={n} eps={eps}: sklearn k={ref}, ventral {'agrees' if ok else 'differs: ' + r.stderr.strip()}")
    check(ok, f"JL k for n={n}, eps={eps}")

print("density, entry values and signs of R (p=4096, k=1024, read back through the identity)")
p, k = 4096, 1024
R = read_r(p, k, 7)
s = 1 / np.sqrt(p)
value = np.sqrt(1 / s) / np.sqrt(k)  # scikit-learn's expression
nz = R[R != 0]
mean_nnz, sd_nnz = p * k * s, np.sqrt(p * k * s * (1 - s))
print(f"  nonzeros {nz.size} expected {mean_nnz:.0f} +- {sd_nnz:.0f}; fraction {nz.size / R.size:.6g} vs 1/sqrt(p) = {s:.6g}")
check(abs(nz.size - mean_nnz) <= 5 * sd_nnz, "fraction of nonzeros within 5 sigma of 1/sqrt(p)")
check(np.all(np.abs(nz) == value), "every nonzero is exactly +-sqrt(1/s)/sqrt(k)")
print(f"  max |abs(entry) - sqrt(1/s)/sqrt(k)| = {np.abs(np.abs(nz) - value).max():.3g} (must be 0)")
npos = int((nz > 0).sum())
print(f"  positive {npos} of {nz.size} (5-sigma band {5 * np.sqrt(nz.size) / 2:.0f})")
check(abs(npos - nz.size / 2) <= 5 * np.sqrt(nz.size) / 2, "signs balanced within 5 sigma")
# Per feature (row) and per component (column): binomial counts, chi-square on the row counts.
row_counts = (R != 0).sum(1)
col_counts = (R != 0).sum(0)
check(abs(row_counts.mean() - k * s) <= 5 * np.sqrt(k * s * (1 - s) / p), "mean nonzeros per feature = k/sqrt(p)")
check(abs(col_counts.mean() - p * s) <= 5 * np.sqrt(p * s * (1 - s) / k), "mean nonzeros per component = sqrt(p)")
vr = row_counts.var(ddof=1) / (k * s * (1 - s))
print(f"  per-feature count variance / binomial variance = {vr:.4f}")
check(abs(vr - 1) < 5 * np.sqrt(2 / (p - 1)) + 0.01, "per-feature counts have binomial variance")
# Independence of positions: adjacent columns of one feature are both nonzero with probability s^2.
both = ((R[:, :-1] != 0) & (R[:, 1:] != 0)).sum()
exp_both = p * (k - 1) * s * s
check(abs(both - exp_both) <= 5 * np.sqrt(exp_both) + 1, "adjacent entries independent")
print(f"  adjacent nonzero pairs {both} expected {exp_both:.0f}")

print("Z = X R exactly (float64) and to float32 rounding (float32)")
X = rng.standard_normal((37, p))
Z, _ = srp(X, "-k", k, "--seed", 7, name="X64")
ref = X @ R
check_close("float64 Z vs X @ R", Z, ref, atol=1e-12 * np.abs(ref).max(), rtol=1e-12)
X32 = X.astype(np.float32)
Z32, _ = srp(X32, "-k", k, "--seed", 7, name="X32")
check(Z32.dtype == np.float32, "float32 input gives float32 output")
ref32 = X32.astype(np.float64) @ R
# float32 accumulation of ~sqrt(p) = 100 terms: error <= ~100 * 2^-24 * sum|terms| ≈ 1e-4 of the row scale.
scale = np.sqrt((ref32**2).mean())
check_close("float32 Z vs X @ R", Z32, ref32, atol=1e-4 * scale, rtol=1e-4)
Zi, _ = srp((X * 100).astype(np.int32), "-k", k, "--seed", 7, name="Xint")
check_close("int32 input (projected in float64)", Zi, (X * 100).astype(np.int32) @ R, atol=1e-9, rtol=1e-12)
R2 = read_r(p, k, 8)
check(not np.array_equal(R, R2), "another seed gives another R")
check(np.array_equal(R, read_r(p, k, 7)), "the same seed gives the same R")

print("JL distance preservation at the stated eps (k from --eps)")
n, eps, pj = 300, 0.2, 5000
kj = int(johnson_lindenstrauss_min_dim(n, eps=eps))
Xj = rng.standard_normal((n, pj))
Zj, _ = srp(Xj, "--eps", eps, "--seed", 3, name="jlx")
check(Zj.shape == (n, kj), f"--eps {eps} with {n} rows gives k = {kj}")


def sq_dists(a):
    g = a @ a.T
    d = np.diag(g)
    iu = np.triu_indices(a.shape[0], 1)
    return (d[:, None] + d[None, :] - 2 * g)[iu]


ratio = sq_dists(Zj) / sq_dists(Xj)
inside = np.mean((ratio > 1 - eps) & (ratio < 1 + eps))
# Dasgupta-Gupta: each pair violates with probability <= 2/n^2; allow 10x for the sparse R's heavier tails.
need = 1 - 10 * 2 / n**2
print(f"  {ratio.size} pairs: squared-distance ratios in [{ratio.min():.4f}, {ratio.max():.4f}], "
      f"fraction within 1+-{eps}: {inside:.6f} (need >= {need:.6f})")
check(inside >= need, "pairwise squared-distance ratios within 1 +- eps")

print("determinism: byte-identical files for any --batch and --threads")
Xd = rng.standard_normal((101, 3000))
for dtype in (np.float32, np.float64):
    xp = V.save("det.npy", Xd.astype(dtype))
    blobs = {}
    for threads in (1, 2):
        for batch in (1, 7, 16, 33, 1000):
            zp = V.path(f"det_{threads}_{batch}.npy")
            V.run("--threads", threads, "srp", xp, "-o", zp, "-k", 500, "--seed", 11, "--batch", batch)
            with open(zp, "rb") as f:
                blobs[(threads, batch)] = f.read()
    same = len(set(blobs.values())) == 1
    print(f"  {np.dtype(dtype).name}: {len(blobs)} runs, {'all identical' if same else 'DIFFER'}")
    check(same, f"{np.dtype(dtype).name}: identical bytes across --batch 1,7,16,33,1000 and --threads 1,2")
# A row's projection does not depend on the other rows present.
Zfull, _ = srp(Xd, "-k", 500, "--seed", 11, name="rowsA")
Zpart, _ = srp(Xd[40:43], "-k", 500, "--seed", 11, name="rowsB")
check(np.array_equal(Zfull[40:43], Zpart), "rows project identically alone or within a larger file")

print("agreement in distribution with scikit-learn's SparseRandomProjection")
# Many projection matrices with few vectors each, so that the pooled ratios are close to
# independent draws (ratios that share one R are correlated through its norm).
p, k, seeds = 400, 40, 100
Xs = rng.standard_normal((20, p))
ours, theirs, ent_ours, ent_theirs = [], [], [], []
for seed in range(seeds):
    Rv = read_r(p, k, seed)
    ent_ours.append(Rv.ravel())
    ours.append(((Xs @ Rv) ** 2).sum(1) / (Xs**2).sum(1))
    sk = SparseRandomProjection(n_components=k, dense_output=True, random_state=seed).fit(Xs)
    Rs = sk.components_.toarray().T
    ent_theirs.append(Rs.ravel())
    theirs.append((sk.transform(Xs) ** 2).sum(1) / (Xs**2).sum(1))
ours, theirs = np.concatenate(ours), np.concatenate(theirs)
ks = stats.ks_2samp(ours, theirs)
print(f"  squared-norm ratios: ventral mean {ours.mean():.4f} sd {ours.std():.4f}; "
      f"sklearn mean {theirs.mean():.4f} sd {theirs.std():.4f}; KS p = {ks.pvalue:.3g}")
check(ks.pvalue > 1e-3, "norm-ratio distributions agree (two-sample KS p > 1e-3)")
ent_ours, ent_theirs = np.concatenate(ent_ours), np.concatenate(ent_theirs)
check(np.array_equal(np.unique(ent_ours), np.unique(ent_theirs)), "the same three entry values as sklearn")
for m in (1, 2, 4):
    a, b = ent_ours**m, ent_theirs**m
    se = np.sqrt(a.var() / a.size + b.var() / b.size)
    print(f"  E[r^{m}]: ventral {a.mean():.6g} sklearn {b.mean():.6g} (5 se = {5 * se:.3g})")
    check(abs(a.mean() - b.mean()) <= 5 * se, f"entry moment {m} agrees with sklearn")

print("p <= k: features copied")
Xc = rng.standard_normal((20, 100)).astype(np.float32)
Zc, r = srp(Xc, "-k", 100, name="copy")
check(Zc is not None and Zc.dtype == np.float32 and np.array_equal(Zc, Xc), "p = k: output equals X")
check("unprojected" in r.stderr, "p = k: a note says the features were copied")
print(f"  note: {r.stderr.strip()}")
Zc, r = srp(Xc, "-k", 99, name="copy2")
check(Zc.shape == (20, 99), "p = k + 1: projected")

print("bad inputs: one-line errors, non-zero exit, no output file")
bad = rng.standard_normal((10, 50))
bad[3, 7] = np.nan
inf = rng.standard_normal((10, 50))
inf[9, 0] = np.inf
cases = [
    ("NaN in X", bad, ["-k", 10], "nan"),
    ("Inf in X", inf, ["-k", 10], "inf"),
    ("3-d input", rng.standard_normal((4, 5, 6)), ["-k", 3], "2-d"),
    ("1-d input", rng.standard_normal(5), ["-k", 3], "2-d"),
    ("k = 0", rng.standard_normal((4, 5)), ["-k", 0], "-k"),
    ("k < 0", rng.standard_normal((4, 5)), ["-k", -3], "-k"),
    ("k not a number", rng.standard_normal((4, 5)), ["-k", "ten"], "-k"),
    ("eps = 0", rng.standard_normal((4, 5)), ["--eps", 0], "eps"),
    ("eps = 1", rng.standard_normal((4, 5)), ["--eps", 1], "eps"),
    ("eps = 1.5", rng.standard_normal((4, 5)), ["--eps", 1.5], "eps"),
    ("eps < 0", rng.standard_normal((4, 5)), ["--eps", -0.1], "eps"),
    ("eps with one row", rng.standard_normal((1, 5)), ["--eps", 0.1], "2 samples"),
    ("both -k and --eps", rng.standard_normal((4, 5)), ["-k", 3, "--eps", 0.1], "exactly one"),
    ("neither -k nor --eps", rng.standard_normal((4, 5)), [], "exactly one"),
    ("--batch 0", rng.standard_normal((4, 5)), ["-k", 3, "--batch", 0], "batch"),
    ("no rows", np.zeros((0, 5)), ["-k", 3], "at least one row"),
    ("string dtype", np.array([["a", "b"]]), ["-k", 1], None),
]
for what, x, opts, contains in cases:
    xp = V.save("bad.npy", x)
    zp = V.path("bad_Z.npy")
    V.expect_error(what, "srp", xp, "-o", zp, *opts, contains=contains)
    left = [os.path.basename(f) for f in glob.glob(zp + "*")]
    check(not left, f"{what}: no output file left behind ({left})")
V.expect_error("missing input file", "srp", V.path("nope.npy"), "-o", V.path("x.npy"), "-k", 3, contains="nope.npy")
V.expect_error("no -o", "srp", V.save("ok.npy", np.ones((3, 4))), "-k", 3, contains="-o")
