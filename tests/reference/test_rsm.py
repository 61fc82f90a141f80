"""`ventral rsm` against numpy: Pearson = numpy.corrcoef, Spearman = corrcoef of
scipy.stats.rankdata rows (average ranks), cosine = normalised rows' Gram matrix.
Random and adversarial inputs: n < p and n > p, several BLAS panels, ties, large offsets and
extreme scales, float32, integer input, constant / zero rows, NaN/Inf, wrong ranks.

Tolerances: |got - ref| <= 1e-9 + 1e-6 |ref| for float64 input (all values lie in [-1, 1]);
<= 1e-4 absolute for float32 input, against the float64 result of the same float32 data."""
import os

import numpy as np
from scipy.stats import rankdata

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
rng = np.random.default_rng(1)
F64 = dict(atol=1e-9, rtol=1e-6)
F32 = dict(atol=1e-4, rtol=0)


def ref_rsm(x, metric):
    x = np.asarray(x, dtype=np.float64)
    # Every metric is scale-invariant: rescale so that numpy's squares neither under- nor overflow
    # (and, for the correlations, centre first, so that a large offset costs the reference nothing).
    big = np.abs(x).max()
    x = np.ldexp(x, -np.frexp(big)[1]) if big > 0 else x  # a power of two: exact
    if metric == "pearson":
        x = x - x.mean(axis=1, keepdims=True)
    if metric == "spearman":
        x = rankdata(x, axis=1)
    if metric == "cosine":
        z = x / np.linalg.norm(x, axis=1, keepdims=True)
        return np.clip(z @ z.T, -1, 1)
    return np.atleast_2d(np.corrcoef(x))


def rsm(x, metric="pearson", threads=None, name="X"):
    src = v.save(f"{name}.npy", x)
    out = v.path(f"{name}_R.npy")
    if os.path.exists(out):
        os.remove(out)
    extra = ["--threads", threads] if threads else []
    r = v.run(*extra, "rsm", src, "-o", out, "--metric", metric)
    return np.load(out) if r.returncode == 0 else None


def case(what, x, metric, tol, expect_dtype=None):
    got = rsm(x, metric)
    if got is None:
        return None
    ref = ref_rsm(x, metric)
    vtref.check_close(f"{what} [{metric}]", got, ref, **tol)
    vtref.check(np.array_equal(got, got.T), f"{what} [{metric}]: symmetric")
    vtref.check(np.all(np.diag(got) == 1), f"{what} [{metric}]: unit diagonal")
    if expect_dtype is not None:
        vtref.check(got.dtype == expect_dtype, f"{what} [{metric}]: dtype {got.dtype}, expected {expect_dtype}")
    return got


for metric in ["pearson", "spearman", "cosine"]:
    case("n<p 40x300", rng.standard_normal((40, 300)), metric, F64, np.float64)
    case("n>p 300x20", rng.standard_normal((300, 20)), metric, F64, np.float64)
    case("correlated rows", rng.standard_normal((1, 80)) + 0.3 * rng.standard_normal((60, 80)), metric, F64)
    case("integer-valued (ties)", rng.integers(0, 4, (50, 40)).astype(np.float64), metric, F64)
    case("float32 100x500", rng.standard_normal((100, 500)).astype(np.float32), metric, F32, np.float32)
    case("n=1", rng.standard_normal((1, 7)), metric, F64)
    case("p=2", rng.standard_normal((30, 2)), metric, F64)

# The Pearson path over several panels of columns (float32: 4096-wide; float64: 64 MiB).
case("float32, 3 panels 60x9000", rng.standard_normal((60, 9000)).astype(np.float32) * 3 + 5, "pearson", F32)
case("float32 mean-dominated", (rng.standard_normal((80, 5000)) + 1000).astype(np.float32), "pearson", F32)
case("float64, 2 panels 2500x3400", rng.standard_normal((2500, 3400)), "pearson", F64)
# Centring happens in float64 before the GEMM: a large common offset costs no accuracy.
case("offset 1e6", rng.standard_normal((50, 100)) + 1e6, "pearson", F64)
case("scale 1e-200", rng.standard_normal((30, 60)) * 1e-200, "pearson", F64)
case("scale 1e150", rng.standard_normal((30, 60)) * 1e150, "pearson", F64)
case("near DBL_MAX (row sums overflow)", 1e308 * (1 + 0.5 * rng.uniform(-1, 1, (20, 50))), "pearson", F64)
case("near DBL_MAX, both signs", 1.5e308 * rng.uniform(-1, 1, (20, 50)), "pearson", F64)
case("cosine scale 1e-170", rng.standard_normal((30, 60)) * 1e-170, "cosine", F64)
case("subnormal values", rng.standard_normal((20, 40)) * 1e-312, "pearson", F64)
case("cosine p=1", rng.standard_normal((10, 1)), "cosine", F64)
case("cosine constant nonzero row", np.vstack([np.full((1, 20), 2.0), rng.standard_normal((9, 20))]), "cosine",
     F64)

# Integer and boolean input is computed in float64.
xi = rng.integers(-5, 6, (40, 30)).astype(np.int64)
case("int64 input", xi, "pearson", F64, np.float64)
case("int16 input spearman", xi.astype(np.int16), "spearman", F64, np.float64)

# The float32 path against float64 at a size with real GEMM blocking.
x32 = rng.standard_normal((400, 6000)).astype(np.float32)
got = rsm(x32, "pearson", name="big32")
vtref.check_close("float32 400x6000 vs float64 corrcoef", got, np.corrcoef(x32.astype(np.float64)), **F32)

# Same result with 1 and 2 threads.
x = rng.standard_normal((120, 700))
r1, r2 = rsm(x, threads=1, name="t1"), rsm(x, threads=2, name="t2")
vtref.check_close("threads 1 vs 2", r1, r2, atol=1e-12, rtol=0)

# Errors: one line, exit 1 (2 for usage), no output file left behind.
def expect_error(what, x, *opts, contains):
    src = v.save("bad.npy", x)
    out = v.path("bad_R.npy")
    v.expect_error(what, "rsm", src, "-o", out, *opts, contains=contains)
    leftovers = [f for f in os.listdir(v.dir) if f.startswith("bad_R.npy")]
    vtref.check(not leftovers, f"{what}: no output file left ({leftovers})")


xc = rng.standard_normal((10, 20))
xc[3] = 0.1  # constant (and its mean is not exactly 0.1 in floating point)
expect_error("constant row (pearson)", xc, contains="row 3")
expect_error("constant row (spearman)", xc, "--metric", "spearman", contains="row 3")
xz = rng.standard_normal((10, 20))
xz[7] = 0
expect_error("zero row (cosine)", xz, "--metric", "cosine", contains="row 7")
expect_error("p=1 (pearson: every row constant)", rng.standard_normal((5, 1)), contains="row 0")
xn = rng.standard_normal((10, 20))
xn[2, 5] = np.nan
expect_error("NaN", xn, contains="NaN")
xn[2, 5] = np.inf
expect_error("Inf", xn, contains="Inf")
expect_error("float32 Inf", xn.astype(np.float32), contains="Inf")
expect_error("1-d input", rng.standard_normal(10), contains="2-d")
expect_error("3-d input", rng.standard_normal((3, 4, 5)), contains="2-d")
os.makedirs(v.path("a_dir.npy"), exist_ok=True)
v.expect_error("a directory as -o", "rsm", v.save("ok.npy", rng.standard_normal((4, 5))), "-o", v.path("a_dir.npy"),
               contains="is a directory")
expect_error("no columns", np.zeros((4, 0)), contains="one column")
expect_error("no rows", np.zeros((0, 4)), contains="one row")
expect_error("unknown metric", xc, "--metric", "euclid", contains="pearson")
r = v.run("rsm", v.save("ok.npy", xc[:2]), expect_ok=False)
vtref.check(r.returncode == 2 and "-o" in r.stderr, "missing -o is a usage error")
v.expect_error("missing input file", "rsm", v.path("nope.npy"), "-o", v.path("o.npy"), contains="nope.npy")
