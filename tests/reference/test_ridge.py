"""ventral ridge against scikit-learn's RidgeCV(alpha_per_target=True) (METHODS §5), explicit
leave-one-out refits, and a numpy reimplementation of the LOO-Pearson criterion (METHODS §6).

Tolerances: |got - ref| <= atol + rtol*|ref| with rtol = 1e-6 and atol = 1e-6 * max|ref| in float64,
1e-4 for float32 inputs (outputs are float32 then); chosen alphas must be equal (scikit-learn and
ventral break ties the same way: the earlier alpha of the list wins).
"""
import json
import os
import shutil

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV

import vtref
from vtref import check, check_close

args = vtref.parse_args()
vt = vtref.Ventral(args.ventral)
DEFAULT_ALPHAS = np.logspace(-1, 7, 20)
rng = np.random.default_rng(20240611)


def make_data(n, p, v, nt=0, spectrum=1.0, dtype=np.float64, seed=None):
    """Features with a power-law spectrum (like network activations) and targets with varied noise,
    so that every part of the alpha grid gets chosen somewhere."""
    r = np.random.default_rng(seed) if seed is not None else rng
    k = min(n + nt, p)
    basis = r.standard_normal((n + nt, k)) * (np.arange(1, k + 1) ** (-spectrum / 2))
    x = basis @ r.standard_normal((k, p)) / np.sqrt(k) + 0.1 * r.standard_normal((n + nt, p))
    x += r.standard_normal(p) * 3  # non-zero feature means
    w = r.standard_normal((p, v)) / np.sqrt(p)
    noise = np.exp(r.uniform(-3, 3, v))
    y = x @ w + noise * r.standard_normal((n + nt, v)) + r.standard_normal(v) * 5
    return (x[:n].astype(dtype), y[:n].astype(dtype), x[n:].astype(dtype), y[n:].astype(dtype))


def run_ridge(tag, x, y, xt=None, yt=None, alphas=None, extra=(), expect_ok=True):
    out = vt.path(f"out-{tag}")
    cmd = ["ridge", "--x-train", vt.save(f"{tag}-xtr.npy", x), "--y-train", vt.save(f"{tag}-ytr.npy", y),
           "--out", out, "--quiet"]
    if xt is not None:
        cmd += ["--x-test", vt.save(f"{tag}-xte.npy", xt)]
    if yt is not None:
        cmd += ["--y-test", vt.save(f"{tag}-yte.npy", yt)]
    if alphas is not None:
        cmd += ["--alphas", ",".join(repr(float(a)) for a in alphas)]
    r = vt.run(*cmd, *extra, expect_ok=expect_ok)
    if r.returncode != 0:
        return None
    res = {}
    for name in ("alpha", "coef", "intercept", "loo", "pred", "score"):
        f = os.path.join(out, name + ".npy")
        if os.path.exists(f):
            res[name] = np.load(f)
    return res


def tol_for(dtype):
    return 1e-6 if dtype == np.float64 else 1e-4


def close_scaled(what, got, ref, rtol):
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.abs(ref).max() if ref.size else 0.0
    check_close(what, got, ref, atol=rtol * scale, rtol=rtol)


def compare_sklearn(tag, x, y, xt, alphas=DEFAULT_ALPHAS, extra=(), default=False, ref_alphas=None):
    """ventral vs RidgeCV(alpha_per_target=True) on the same data (scikit-learn in float64)."""
    print(f"{tag}: n={x.shape[0]} p={x.shape[1]} targets={1 if y.ndim == 1 else y.shape[1]} {x.dtype}")
    # The grid is passed explicitly: numpy's vectorised power is not correctly rounded (logspace(-1, 7)[0]
    # is one ulp below 0.1), and ventral's default grid is (see "default alphas" below).
    got = run_ridge(tag, x, y, xt, alphas=None if default else alphas, extra=extra)
    if got is None:
        return None
    y64 = y.astype(np.float64)
    ref_alphas = alphas if ref_alphas is None else ref_alphas
    ref = RidgeCV(alphas=ref_alphas, alpha_per_target=True, fit_intercept=True).fit(x.astype(np.float64), y64)
    rtol = tol_for(x.dtype)
    ref_alpha = np.atleast_1d(ref.alpha_)
    if y.ndim == 2 and ref_alpha.size == 1:
        ref_alpha = np.repeat(ref_alpha, y.shape[1])
    if default:  # same grid point, up to the last ulp of numpy's power
        grid = np.log(alphas)
        same = np.argmin(np.abs(np.log(got["alpha"])[:, None] - grid), 1) == np.argmin(
            np.abs(np.log(ref_alpha)[:, None] - grid), 1)
        nearest = alphas[np.argmin(np.abs(np.log(got["alpha"])[:, None] - grid), 1)]
        check_close(f"{tag}: default grid vs numpy.logspace", got["alpha"], nearest, rtol=1e-14)
    else:
        same = got["alpha"] == ref_alpha.astype(got["alpha"].dtype)
    print(f"  alphas equal to scikit-learn's: {same.sum()}/{same.size}")
    check(bool(same.all()), f"{tag}: chosen alphas differ from scikit-learn's at {np.flatnonzero(~same)[:10]}")
    coef = ref.coef_.T if y.ndim == 2 else ref.coef_
    close_scaled(f"{tag} coef", got["coef"], coef.reshape(got["coef"].shape), rtol)
    close_scaled(f"{tag} intercept", got["intercept"], np.atleast_1d(ref.intercept_), rtol)
    if xt is not None:
        close_scaled(f"{tag} pred", got["pred"], ref.predict(xt.astype(np.float64)).reshape(got["pred"].shape), rtol)
    return got


# --- agreement with scikit-learn -----------------------------------------------------------------
x, y, xt, yt = make_data(60, 150, 40, nt=20)
compare_sklearn("n<p", x, y, xt)
x, y, xt, yt = make_data(120, 30, 40, nt=20)
compare_sklearn("n>p", x, y, xt)
x, y, xt, yt = make_data(50, 50, 20, nt=10)
compare_sklearn("n=p", x, y, xt)
x, y, xt, yt = make_data(60, 150, 40, nt=20, dtype=np.float32)
compare_sklearn("n<p float32", x, y, xt)
x, y, xt, yt = make_data(120, 30, 40, nt=20, dtype=np.float32)
compare_sklearn("n>p float32", x, y, xt)
x, y, xt, yt = make_data(40, 80, 1, nt=10)
compare_sklearn("one target 2-d", x, y, xt)
got = compare_sklearn("one target 1-d", x, y[:, 0], xt)
if got is not None:
    check(got["coef"].shape == (80,) and got["loo"].shape == (40,) and got["pred"].shape == (10,),
          "1-d targets give 1-d coef/loo/pred")
x, y, xt, yt = make_data(30, 70, 5, nt=5)
compare_sklearn("custom alphas", x, y, xt, alphas=np.array([5.0, 0.3, 100.0, 1e4, 2.0]))
# Many more targets than stimuli: the float32 sweep takes the triangular-factor form (checked below).
x, y, xt, yt = make_data(40, 120, 400, nt=10)
compare_sklearn("n<p, 400 targets", x, y, xt)

# Adversarial: constant target column (exactly representable), constant feature column,
# duplicate rows, the minimum number of stimuli.
x, y, xt, yt = make_data(50, 100, 6, nt=8)
y[:, 2] = 3.0
x[:, 7] = 2.5
compare_sklearn("constant column n<p", x, y, xt)
x, y, xt, yt = make_data(90, 20, 6, nt=8)
y[:, 2] = -1.5
x[:, 3] = 4.0
compare_sklearn("constant column n>p", x, y, xt)
x, y, xt, yt = make_data(40, 90, 8, nt=5)
x[10], y[10] = x[3], y[3]
x[11] = x[3]
compare_sklearn("duplicate rows n<p", x, y, xt)
x, y, xt, yt = make_data(60, 10, 8, nt=5)
x[20:25], y[20:25] = x[0:5], y[0:5]
compare_sklearn("duplicate rows n>p", x, y, xt)
# With two stimuli every alpha gives the same LOO residuals (y1 - y2): a tie decided by rounding (in
# scikit-learn too). Check the fit at the alpha ventral chose, and the LOO predictions (the other value).
x, y, xt, yt = make_data(2, 5, 3, nt=3)
got = run_ridge("n2", x, y, xt, alphas=DEFAULT_ALPHAS)
if got is not None:
    for j in range(3):
        m = Ridge(alpha=float(got["alpha"][j]), fit_intercept=True).fit(x, y[:, j])
        close_scaled(f"n=2 target {j} coef", got["coef"][:, j], m.coef_, 1e-6)
        close_scaled(f"n=2 target {j} pred", got["pred"][:, j], m.predict(xt), 1e-6)
    close_scaled("n=2 loo = the other stimulus' value", got["loo"], y[::-1], 1e-12)
x, y, xt, yt = make_data(150, 60, 30, nt=10)
compare_sklearn("default alphas", x, y, xt, default=True)
x, y, xt, yt = make_data(3, 2, 3, nt=3)
compare_sklearn("n=3 p=2", x, y, xt)

# --- LOO predictions against explicit leave-one-out refits -----------------------------------------
for tag, (n, p) in (("loo n<p", (18, 40)), ("loo n>p", (30, 6))):
    x, y, _, _ = make_data(n, p, 5)
    got = run_ridge(tag.replace(" ", "_"), x, y)
    if got is not None:
        ref = np.empty_like(y)
        for j in range(y.shape[1]):
            for i in range(n):
                keep = np.arange(n) != i
                m = Ridge(alpha=float(got["alpha"][j]), fit_intercept=True, solver="svd").fit(x[keep], y[keep, j])
                ref[i, j] = m.predict(x[i:i + 1])[0]
        close_scaled(tag + " vs explicit refits", got["loo"], ref, 1e-8)

# --- test predictions and scores ------------------------------------------------------------------------
x, y, xt, yt = make_data(50, 120, 12, nt=25)
got = run_ridge("score", x, y, xt, yt)
if got is not None:
    pred = got["pred"]
    r = np.array([np.corrcoef(pred[:, j], yt[:, j])[0, 1] for j in range(y.shape[1])])
    close_scaled("score vs numpy corrcoef of pred", got["score"], r, 1e-10)

# --- the LOO-Pearson criterion (METHODS §6) vs a direct numpy implementation ---------------------------
def loo_pearson_reference(x, y, alphas):
    """Literal float64 formulas: G⁻¹ = (K + αI)⁻¹ − 11ᵀ/(nα) on centred data, e = G⁻¹y / diag(G⁻¹),
    LOO predictions y − e; per target the alpha with the largest Pearson r (strictly greater wins)."""
    n = x.shape[0]
    xc = x - x.mean(0)
    yc = y - y.mean(0)
    k = xc @ xc.T
    best_r = best_a = best_loo = None
    for a in alphas:
        g = np.linalg.inv(k + a * np.eye(n)) - np.ones((n, n)) / (n * a)
        e = (g @ yc) / np.diag(g)[:, None]
        loo = y - e
        r = np.array([np.corrcoef(loo[:, j], y[:, j])[0, 1] for j in range(y.shape[1])])
        if best_r is None:
            best_r, best_a, best_loo = r, np.full(y.shape[1], a), loo.copy()
        else:
            upd = r > best_r
            best_r[upd], best_a[upd], best_loo[:, upd] = r[upd], a, loo[:, upd]
    return best_a, best_loo


conwell_alphas = np.logspace(-1, 5, 7)
for tag, (n, p) in (("loo-pearson n<p", (40, 100)), ("loo-pearson n>p", (80, 15))):
    x, y, _, _ = make_data(n, p, 30)
    got = run_ridge(tag.replace(" ", "_").replace("<", "lt").replace(">", "gt"), x, y, alphas=conwell_alphas,
                    extra=("--criterion", "loo-pearson"))
    if got is not None:
        ref_a, ref_loo = loo_pearson_reference(x, y, conwell_alphas)
        same = got["alpha"] == ref_a
        print(f"  {tag}: alphas equal to the numpy reference: {same.sum()}/{same.size}")
        check(bool(same.all()), f"{tag}: alphas differ from the numpy reference")
        close_scaled(tag + " loo", got["loo"], ref_loo, 1e-8)

# --- the mixed-precision sweep chooses exactly as the float64 sweep; block size is invisible -----------
def sweep_stats(tag, x, y):
    r = vt.run("ridge", "--x-train", vt.save(f"{tag}-xtr.npy", x), "--y-train", vt.save(f"{tag}-ytr.npy", y),
               "--out", vt.path(f"out-{tag}"), "--stats")
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}


x, y, xt, _ = make_data(80, 300, 400, nt=10, spectrum=2.0, seed=7)
# v >= 4 (n - 1): the triangular sweep; with fewer targets the GEMM sweep (both must match float64).
check(sweep_stats("tri-on", x, y).get("triangular_sweep") == 1, "400 targets on 80 stimuli: triangular sweep used")
check(sweep_stats("tri-off", x, y[:, :300]).get("triangular_sweep") == 0, "300 targets: GEMM sweep used")
b300 = run_ridge("double300", x, y[:, :300], extra=("--sweep", "double"))
a300 = run_ridge("mixed300", x, y[:, :300])
if a300 is not None and b300 is not None:
    check(bool((a300["alpha"] == b300["alpha"]).all()), "GEMM mixed sweep chose differently from the float64 sweep")
a = run_ridge("mixed", x, y, xt)
b = run_ridge("double", x, y, xt, extra=("--sweep", "double"))
c = run_ridge("block7", x, y, xt, extra=("--block", "7"))
if a is not None and b is not None and c is not None:
    same = a["alpha"] == b["alpha"]
    print(f"  mixed vs float64 sweep: {same.sum()}/{same.size} alphas equal")
    check(bool(same.all()), "mixed sweep chose differently from the float64 sweep")
    for name in ("alpha", "coef", "intercept", "loo", "pred"):
        close_scaled(f"block 7 vs automatic block: {name}", c[name], a[name], 1e-12)

# --- bit-identical outputs for any thread count (kernel and SVD forms, float64 and float32) -----------------
# Sizes above the GEMM tile (256) in every dimension, so the threads really split the work.
for tag, (n, p, v, dtype) in {"kernel": (300, 700, 600, np.float64), "svd": (700, 300, 600, np.float64),
                              "f32": (300, 700, 600, np.float32), "triangular": (100, 300, 600, np.float64)}.items():
    x, y, xt, yt = make_data(n, p, v, nt=40, spectrum=1.5, dtype=dtype, seed=11)
    files = {}
    for threads in (1, 2, 3):
        out = vt.path(f"det-{tag}-{threads}")
        vt.run("--threads", threads, "ridge", "--x-train", vt.save(f"det-{tag}-xtr.npy", x), "--y-train",
               vt.save(f"det-{tag}-ytr.npy", y), "--x-test", vt.save(f"det-{tag}-xte.npy", xt), "--y-test",
               vt.save(f"det-{tag}-yte.npy", yt), "--out", out, "--quiet")
        files[threads] = {name: open(os.path.join(out, name + ".npy"), "rb").read()
                          for name in ("alpha", "coef", "intercept", "loo", "pred", "score")}
    same = all(files[t] == files[1] for t in (2, 3))
    print(f"  {tag}: outputs with --threads 1, 2, 3 {'byte-identical' if same else 'DIFFER'}")
    check(same, f"{tag}: ridge outputs identical across thread counts")

# --- errors: one clean line, non-zero exit, no output files ----------------------------------------------
x, y, xt, yt = make_data(20, 30, 4, nt=5)


def expect_failure(what, xx, yy, xxt=None, extra=(), contains=None, alphas=None):
    tag = "err"
    out = vt.path("out-err")
    cmd = ["ridge", "--x-train", vt.save(f"{tag}-xtr.npy", xx), "--y-train", vt.save(f"{tag}-ytr.npy", yy),
           "--out", out]
    if xxt is not None:
        cmd += ["--x-test", vt.save(f"{tag}-xte.npy", xxt)]
    if alphas is not None:
        cmd += ["--alphas", alphas]
    if os.path.isdir(out):
        shutil.rmtree(out)
    vt.expect_error(what, *cmd, *extra, contains=contains)
    left = os.listdir(out) if os.path.isdir(out) else []
    check(left == [], f"{what}: left files behind: {left}")
    # The directory did not exist before the command, so a failure must not leave it either.
    check(not os.path.exists(out), f"{what}: left the output directory {out} behind")


xn = x.copy()
xn[3, 4] = np.nan
expect_failure("NaN in X", xn, y, contains="NaN")
yi = y.copy()
yi[0, 1] = np.inf
expect_failure("Inf in Y", x, yi, contains="Inf")
xti = xt.copy()
xti[1, 1] = -np.inf
expect_failure("Inf in X_test", x, y, xti, contains="Inf")
expect_failure("mismatched rows", x, y[:-1], contains="rows")
expect_failure("mismatched test features", x, y, xt[:, :-1], contains="features")
expect_failure("one stimulus", x[:1], y[:1], contains="at least 2")
expect_failure("zero alpha", x, y, alphas="1,0,3", contains="alpha")
expect_failure("negative alpha", x, y, alphas="-1", contains="alpha")
expect_failure("bad criterion", x, y, extra=("--criterion", "r2"), contains="criterion")
