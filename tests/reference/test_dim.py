"""`ventral dim` (participation ratio, METHODS §9) against numpy: (Σλ)² / Σλ² of
numpy.linalg.eigvalsh(numpy.cov(X, rowvar=False)), the eigenvalues of the feature covariance.
n < p and n > p (ventral forms the smaller Gram), planted spectra, constant columns, float32,
integer input, NaN/Inf and too few stimuli.

Tolerance: |got - ref| <= 1e-6 |ref| in float64 (read from --json, which prints 17 digits; the
plain output's 10 digits are checked against it); float32 input: 1e-4 relative, against the
float64 result of the same float32 data."""
import json

import numpy as np

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
rng = np.random.default_rng(3)


def ref_pr(x):
    ev = np.linalg.eigvalsh(np.atleast_2d(np.cov(np.asarray(x, dtype=np.float64), rowvar=False)))
    return ev.sum() ** 2 / (ev ** 2).sum()


def dim(x, *extra):
    r = v.run("dim", v.save("X.npy", x), *extra)
    return r.stdout.strip()


def case(what, x, rtol=1e-6):
    out, js = dim(x), dim(x, "--json")
    try:
        plain, got = float(out), json.loads(js)["participation_ratio"]
    except (ValueError, KeyError):
        vtref.check(False, f"{what}: output is not one number / JSON: {out!r} {js!r}")
        return
    vtref.check(abs(plain - got) <= 1e-9 * abs(got), f"{what}: plain output {plain} agrees with --json {got}")
    vtref.check_close(what, got, ref_pr(x), atol=0, rtol=rtol)


case("n<p 50x400", rng.standard_normal((50, 400)))
case("n>p 400x50", rng.standard_normal((400, 50)))
case("square 100x100", rng.standard_normal((100, 100)))
# Planted spectrum: independent columns with variances 1, 1/2, 1/3, ... (many samples).
sd = 1 / np.sqrt(np.arange(1, 21))
case("planted decaying spectrum 3000x20", rng.standard_normal((3000, 20)) * sd)
case("rank 1 (PR = 1)", np.outer(rng.standard_normal(60), rng.standard_normal(30)))
x = rng.standard_normal((80, 40))
x[:, [3, 17]] = 4.0
case("constant columns", x)
case("large offset", rng.standard_normal((60, 30)) * 0.01 + 1e4)
case("float32 200x1000", rng.standard_normal((200, 1000)).astype(np.float32), rtol=1e-4)
case("int64 input", rng.integers(-3, 4, (70, 25)))
case("n=2", rng.standard_normal((2, 10)))
case("p=1", rng.standard_normal((10, 1)))

# Isotropic data: PR tends to p as n grows (closed form, loose tolerance).
got = float(dim(rng.standard_normal((20000, 10))))
vtref.check(abs(got - 10) < 0.1, f"isotropic 20000x10: PR {got:.4f} ~ 10")
out = dim(np.zeros((5, 3)) + 2.0)
vtref.check(out != "" and float(out) == 0, f"every column constant: PR 0 (got {out!r})")

r = dim(rng.standard_normal((30, 8)), "--json")
try:
    j = json.loads(r)
    vtref.check("participation_ratio" in j, "--json has participation_ratio")
except ValueError:
    vtref.check(False, f"--json output is not JSON: {r!r}")

bad = rng.standard_normal((10, 5))
bad[4, 2] = np.nan
v.expect_error("NaN", "dim", v.save("bad.npy", bad), contains="NaN")
bad[4, 2] = np.inf
v.expect_error("Inf", "dim", v.save("bad.npy", bad), contains="Inf")
v.expect_error("one stimulus", "dim", v.save("bad.npy", rng.standard_normal((1, 5))), contains="at least 2")
v.expect_error("1-d input", "dim", v.save("bad.npy", rng.standard_normal(5)), contains="2-d")
v.expect_error("no features", "dim", v.save("bad.npy", np.zeros((4, 0))), contains="no features")
v.expect_error("missing file", "dim", v.path("nope.npy"), contains="nope.npy")
