"""`ventral compare` against scipy.stats (pearsonr, spearmanr, kendalltau tau-b) on the strict
upper triangles (numpy.triu_indices(n, 1)) of two square matrices, or on two 1-d vectors;
adversarial inputs (ties, constant inputs, tiny and mismatched sizes, NaN/Inf, non-square), and
the bootstrap over stimuli recomputed independently in numpy from the resample indices that
ventral reports (--bootstrap-indices-out).

Tolerances: coefficients |got - ref| <= 1e-9 + 1e-6 |ref| (float64); float32 matrices are
compared with their own float64 triangles, so the same tolerance holds. Bootstrap resamples:
1e-9 absolute against numpy on the same indices; the interval equals numpy.percentile of them."""
import json
import os

import numpy as np
from scipy import stats

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
rng = np.random.default_rng(2)
TOL = dict(atol=1e-9, rtol=1e-6)
METHODS = ["pearson", "spearman", "kendall"]


def ref_corr(a, b, method):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if method == "pearson":
        return stats.pearsonr(a, b)[0]
    if method == "spearman":
        return stats.spearmanr(a, b)[0]
    return stats.kendalltau(a, b, variant="b")[0]


def tri(m):
    return m[np.triu_indices(m.shape[0], 1)]


def compare(a, b, method, *extra, threads=None):
    pa, pb = v.save("A.npy", a), v.save("B.npy", b)
    pre = ["--threads", threads] if threads else []
    r = v.run(*pre, "compare", pa, pb, "--method", method, *extra)
    return r


def value(a, b, method):
    r = compare(a, b, method)
    try:
        return float(r.stdout.strip())
    except ValueError:
        vtref.check(False, f"output is not one number: {r.stdout!r}")
        return np.nan


def case(what, a, b, methods=METHODS):
    for method in methods:
        got = value(a, b, method)
        ref = ref_corr(a if a.ndim == 1 else tri(a), b if b.ndim == 1 else tri(b), method)
        vtref.check_close(f"{what} [{method}]", got, ref, **TOL)


def sym(n, noise=1.0, base=None):
    x = rng.standard_normal((n, 3 * n)) if base is None else base + noise * rng.standard_normal(base.shape)
    return np.corrcoef(x), x


ra, xa = sym(80)
rb, _ = sym(80, 2.0, xa)
case("correlated RSMs n=80", ra, rb)
case("independent RSMs n=60", sym(60)[0], sym(60)[0])
case("1-d vectors", rng.standard_normal(500), rng.standard_normal(500))
case("1-d vectors, strong relation", (x := rng.standard_normal(300)), x ** 3 + 0.1 * rng.standard_normal(300))
case("negative relation", (x := rng.standard_normal(200)), -x + 0.5 * rng.standard_normal(200))
# Ties: integer-valued data, within and across both inputs (Spearman average ranks, tau-b).
case("ties, integer 1-d", rng.integers(0, 5, 400).astype(float), rng.integers(0, 3, 400).astype(float))
case("ties, integer matrices", rng.integers(0, 4, (50, 50)).astype(float), rng.integers(0, 6, (50, 50)).astype(float))
case("ties, one input tied", rng.integers(0, 2, 300).astype(float), rng.standard_normal(300))
case("perfect monotone with ties", (x := rng.integers(0, 10, 100).astype(float)), 2 * x + 1)
case("-0.0 and 0.0 tie", np.array([0.0, -0.0, 1, 2, -0.0, 3, 0.0]), np.array([5.0, 4, 3, 2, 1, 0, 6]))
# Only the strict upper triangle is read: non-symmetric matrices and any diagonal.
na, nb = rng.standard_normal((40, 40)), rng.standard_normal((40, 40))
case("non-symmetric matrices", na, nb + 0.5 * na)
diag = ra.copy()
np.fill_diagonal(diag, np.nan)
case("NaN diagonal is ignored", diag, rb, ["pearson"])
case("float32 matrices", ra.astype(np.float32), rb.astype(np.float32))
case("int64 1-d", rng.integers(-100, 100, 250), rng.integers(-100, 100, 250))
case("float32 vs float64", ra.astype(np.float32), rb)
case("n=3 (3 values)", sym(3)[0], sym(3)[0])
case("two values", np.array([1.0, 2.0]), np.array([5.0, -1.0]))
case("large offset", rng.standard_normal(1000) + 1e8, rng.standard_normal(1000))
# Squares that would under- or overflow: ventral rescales by powers of two (exact); the
# reference is scipy on the same data rescaled (Pearson is scale-invariant).
tiny, huge = rng.standard_normal(300), rng.standard_normal(300)
for what, sa, sb in [("subnormal values", 1e-310, 1.0), ("values near 1e300", 1e300, 1e-300),
                     ("both 1e200", 1e200, 1e200)]:
    got = value(tiny * sa, huge * sb, "pearson")
    vtref.check_close(f"{what} [pearson]", got, ref_corr(tiny * sa / sa, huge * sb / sb, "pearson"), atol=1e-9,
                      rtol=1e-6)

# The benchmark size: n=1000 stimuli, 499,500 values.
big_a, big_b = rng.standard_normal(499500), rng.standard_normal(499500)
big_b = 0.3 * big_a + big_b
big_b[::7] = np.round(big_b[::7], 1)  # some ties
case("499,500-long vectors", big_a, big_b)

# --json
r = compare(ra, rb, "spearman", "--json")
try:
    j = json.loads(r.stdout)
    ok = (j["method"] == "spearman" and j["stimuli"] == 80 and j["values"] == 3160
          and abs(j["coefficient"] - ref_corr(tri(ra), tri(rb), "spearman")) < 1e-9)
except (ValueError, KeyError) as e:
    ok = False
    print(f"  bad json: {e}: {r.stdout!r}")
vtref.check(ok, "--json gives method, stimuli, values, coefficient")

# Errors: a clean one-line message, exit 1 (usage: 2).
def expect_error(what, a, b, *extra, contains=None):
    v.expect_error(what, "compare", v.save("A.npy", a), v.save("B.npy", b), *extra, contains=contains)


expect_error("non-square", rng.standard_normal((5, 6)), rng.standard_normal((5, 6)), contains="square")
expect_error("mismatched sizes", sym(10)[0], sym(11)[0], contains="differ")
expect_error("mismatched 1-d lengths", rng.standard_normal(10), rng.standard_normal(11), contains="differ")
expect_error("1-d vs 2-d", rng.standard_normal(45), sym(10)[0], contains="both")
expect_error("3-d", rng.standard_normal((2, 2, 2)), rng.standard_normal((2, 2, 2)), contains="square")
expect_error("n=2 (one value)", sym(2)[0], sym(2)[0], contains="at least 3 stimuli")
expect_error("1-d of length 1", np.ones(1), np.ones(1), contains="at least 2")
bad = ra.copy()
bad[3, 17] = np.nan
expect_error("NaN in the triangle", bad, rb, contains="row 3, column 17")
bad[3, 17] = -np.inf
expect_error("Inf in B's triangle", rb, bad, contains="B.npy")
expect_error("NaN in a vector", np.array([1.0, np.nan, 2]), np.array([1.0, 2, 3]), contains="NaN")
for method in METHODS:
    expect_error(f"constant A [{method}]", np.ones((6, 6)), sym(6)[0], "--method", method, contains="constant")
    expect_error(f"constant B [{method}]", rng.standard_normal(9), np.full(9, 2.5), "--method", method,
                 contains="B.npy is constant")
expect_error("unknown method", ra, rb, "--method", "cosine", contains="pearson")
expect_error("bootstrap of 1-d vectors", rng.standard_normal(10), rng.standard_normal(10), "--bootstrap", "10",
             contains="square")
expect_error("bootstrap 0", ra, rb, "--bootstrap", "0", contains="positive")
expect_error("bad level", ra, rb, "--bootstrap", "5", "--ci-level", "1.5", contains="between")


# ---- bootstrap over stimuli: recomputed in numpy from ventral's resample indices -------------
def ref_resample(a, b, idx, method):
    """METHODS §9: stimuli idx (taken in ascending order), the strict upper triangle of the
    resampled matrices with pairs of a stimulus and its own copy dropped."""
    s = np.sort(idx)
    i, j = np.triu_indices(len(s), 1)
    keep = s[i] != s[j]
    x, y = a[s[i], s[j]][keep], b[s[i], s[j]][keep]
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return np.nan
    return ref_corr(x, y, method)


def bootstrap(a, b, method, n_boot, seed, threads=None, level=None):
    samples, indices = v.path("samples.npy"), v.path("indices.npy")
    extra = ["--json", "--bootstrap", n_boot, "--seed", seed, "--bootstrap-samples-out", samples,
             "--bootstrap-indices-out", indices]
    if level:
        extra += ["--ci-level", level]
    r = compare(a, b, method, *extra, threads=threads)
    if r.returncode != 0:
        return None, None, None
    return json.loads(r.stdout), np.load(samples), np.load(indices)


def bootstrap_case(what, a, b, method, n_boot=200, seed=7, level=0.95):
    j, got, idx = bootstrap(a, b, method, n_boot, seed, level=level)
    if j is None:
        return
    n = a.shape[0]
    vtref.check(idx.shape == (n_boot, n) and idx.dtype == np.int64 and idx.min() >= 0 and idx.max() < n,
                f"{what} [{method}]: indices shape {idx.shape}, range [{idx.min()}, {idx.max()}]")
    ref = np.array([ref_resample(a, b, idx[k], method) for k in range(n_boot)])
    vtref.check(np.array_equal(np.isnan(got), np.isnan(ref)), f"{what} [{method}]: the same resamples undefined")
    vtref.check_close(f"{what} [{method}] resamples vs numpy", np.nan_to_num(got), np.nan_to_num(ref), atol=1e-9,
                      rtol=0)
    valid = ref[~np.isnan(ref)]
    q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    lo, hi = np.percentile(valid, q)
    bj = j["bootstrap"]
    vtref.check_close(f"{what} [{method}] CI vs numpy.percentile", [bj["ci_low"], bj["ci_high"]], [lo, hi],
                      atol=1e-9, rtol=0)
    vtref.check(bj["valid"] == len(valid) and bj["resamples"] == n_boot, f"{what} [{method}]: valid count")
    vtref.check_close(f"{what} [{method}] se", bj["se"], np.std(valid, ddof=1), atol=1e-9, rtol=0)
    return j


ba, xb = sym(40)
bb, _ = sym(40, 1.5, xb)
for method in METHODS:
    j = bootstrap_case("RSMs n=40", ba, bb, method)
    if j:
        bj = j["bootstrap"]
        print(f"  n=40 [{method}]: {j['coefficient']:.4f} in [{bj['ci_low']:.4f}, {bj['ci_high']:.4f}]")
        vtref.check(bj["ci_low"] <= j["coefficient"] <= bj["ci_high"], f"[{method}] CI brackets the estimate")
bootstrap_case("ties n=30", rng.integers(0, 3, (30, 30)).astype(float), rng.integers(0, 4, (30, 30)).astype(float),
               "kendall")
bootstrap_case("ties n=30", rng.integers(0, 3, (30, 30)).astype(float), rng.integers(0, 4, (30, 30)).astype(float),
               "spearman")
bootstrap_case("non-symmetric n=25", na[:25, :25], nb[:25, :25] + na[:25, :25], "pearson", level=0.8)
# n=3: many resamples draw fewer than 3 distinct stimuli, leaving a constant (or one-value) triangle.
bootstrap_case("n=3", sym(3)[0], sym(3)[0], "pearson", n_boot=300)
bootstrap_case("n=3", sym(3)[0], sym(3)[0], "kendall", n_boot=300)

# Thread-count independence and seeding.
for method in METHODS:
    j1, s1, i1 = bootstrap(ra, rb, method, 100, 3, threads=1)
    j2, s2, i2 = bootstrap(ra, rb, method, 100, 3, threads=2)
    vtref.check(j1 == j2 and np.array_equal(s1, s2) and np.array_equal(i1, i2),
                f"[{method}] bootstrap identical with 1 and 2 threads")
    j3, s3, i3 = bootstrap(ra, rb, method, 100, 4)
    vtref.check(not np.array_equal(i1, i3) and not np.array_equal(s1, s3), f"[{method}] another seed, other draws")
# Without --seed the seed is 0, and the point estimate is unchanged by --bootstrap.
r0 = compare(ra, rb, "pearson", "--json", "--bootstrap", "20")
vtref.check(json.loads(r0.stdout)["bootstrap"]["seed"] == 0, "default seed 0")
vtref.check_close("estimate with --bootstrap", json.loads(r0.stdout)["coefficient"], value(ra, rb, "pearson"),
                  atol=0, rtol=0)
# The draws are uniform: every stimulus drawn about once per resample.
_, _, idx = bootstrap(ra, rb, "pearson", 500, 11)
counts = np.bincount(idx.ravel(), minlength=80) / 500
vtref.check(abs(counts.mean() - 1) < 1e-12 and counts.min() > 0.8 and counts.max() < 1.2,
            f"uniform draws: mean count per resample {counts.min():.3f}..{counts.max():.3f}")
