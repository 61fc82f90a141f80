"""The ctypes binding (python/ventral) against numpy / SciPy / scikit-learn and against the CLI:
rsm (pearson, spearman, cosine; float32 and float64), compare (pearson, spearman, kendall), ridge
(chosen alphas equal to RidgeCV(alpha_per_target=True), predictions and LOO predictions equal to
scikit-learn refits), srp (JL dimension, entry values and density, batch invariance, bits equal to
`ventral srp`), and errors raised with the library's message. The library is the libventral.so next to
the ventral executable given with --ventral."""

import numpy as np
from scipy import stats
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.random_projection import johnson_lindenstrauss_min_dim

import scoreref
import vtref

args = vtref.parse_args()
ventral = vtref.import_binding(args.ventral)

v = vtref.Ventral(args.ventral)
rng = np.random.default_rng(3)
print(f"  libventral {ventral.version()} from {ventral.library_path}")

# ---- rsm
x = rng.standard_normal((40, 300)) + rng.standard_normal(300)
vtref.check_close("rsm pearson float64 vs numpy.corrcoef", ventral.rsm(x), np.corrcoef(x), atol=1e-12, rtol=0)
r32 = ventral.rsm(x.astype(np.float32))
vtref.check(r32.dtype == np.float32, "rsm of float32 is float32")
vtref.check_close("rsm pearson float32 vs numpy.corrcoef", r32, np.corrcoef(x), atol=2e-6, rtol=0)
ranks = np.apply_along_axis(stats.rankdata, 1, np.round(x, 1))  # ties
vtref.check_close("rsm spearman vs corrcoef of average ranks", ventral.rsm(np.round(x, 1), "spearman"),
                  np.corrcoef(ranks), atol=1e-12, rtol=0)
u = x / np.linalg.norm(x, axis=1, keepdims=True)
vtref.check_close("rsm cosine", ventral.rsm(x, "cosine"), u @ u.T, atol=1e-12, rtol=0)
vtref.check_close("rsm of a non-contiguous view", ventral.rsm(x[:, ::2]), np.corrcoef(x[:, ::2]), atol=1e-12, rtol=0)

# ---- compare
a, b = np.corrcoef(x[:, :150]), np.corrcoef(x[:, 150:])
iu = np.triu_indices(40, 1)
vtref.check_close("compare pearson", ventral.compare(a, b), stats.pearsonr(a[iu], b[iu])[0], atol=1e-12, rtol=0)
vtref.check_close("compare spearman", ventral.compare(a, b, "spearman"), stats.spearmanr(a[iu], b[iu])[0],
                  atol=1e-12, rtol=0)
qa, qb = np.round(a, 1), np.round(b, 1)  # ties for tau-b
vtref.check_close("compare kendall tau-b", ventral.compare(qa, qb, "kendall"), stats.kendalltau(qa[iu], qb[iu])[0],
                  atol=1e-12, rtol=0)
vtref.check_close("compare of two vectors", ventral.compare(a[iu], b[iu]), stats.pearsonr(a[iu], b[iu])[0],
                  atol=1e-12, rtol=0)

# ---- ridge
n, p, t = 30, 50, 12
xtr, xte = rng.standard_normal((n, p)), rng.standard_normal((15, p))
w = rng.standard_normal((p, t))
ytr = xtr @ w * 0.2 + rng.standard_normal((n, t)) * np.linspace(0.1, 5, t)
yte = xte @ w * 0.2 + rng.standard_normal((15, t))
alphas = np.logspace(-1, 4, 8)
fit = ventral.ridge(xtr, ytr, xte, yte, alphas=alphas)
ref_alpha = RidgeCV(alphas=alphas, alpha_per_target=True).fit(xtr, ytr).alpha_
vtref.check(np.array_equal(fit["alpha"], ref_alpha), "ridge alphas equal RidgeCV(alpha_per_target=True)'s")
pred = np.column_stack([Ridge(alpha=al).fit(xtr, ytr[:, j]).predict(xte) for j, al in enumerate(fit["alpha"])])
vtref.check_close("ridge test predictions vs sklearn Ridge", fit["pred"], pred, atol=1e-8, rtol=1e-8)
coef = np.column_stack([Ridge(alpha=al).fit(xtr, ytr[:, j]).coef_ for j, al in enumerate(fit["alpha"])])
vtref.check_close("ridge coefficients vs sklearn Ridge", fit["coef"], coef, atol=1e-8, rtol=1e-8)
loo = np.column_stack([scoreref.loo_predictions(xtr, ytr[:, [j]], al)[:, 0] for j, al in enumerate(fit["alpha"])])
vtref.check_close("ridge LOO predictions vs explicit leave-one-out refits", fit["loo"], loo, atol=1e-8, rtol=1e-8)
vtref.check_close("ridge test score = Pearson r(pred, y_test)", fit["score"], scoreref.pearson_cols(pred, yte),
                  atol=1e-8, rtol=0)
fit_p = ventral.ridge(xtr, ytr, alphas=alphas, criterion="loo-pearson")
ref_p, _ = scoreref.fit_layer(xtr, ytr, xte, list(alphas), "loo-pearson")
vtref.check_close("ridge loo-pearson criterion: LOO predictions vs reference", fit_p["loo"], ref_p, atol=1e-8,
                  rtol=1e-8)
vtref.check(np.array_equal(ventral.default_alphas(), np.array([10 ** (-1 + 8 * k / 19) for k in range(20)])) or
            np.allclose(ventral.default_alphas(), np.logspace(-1, 7, 20), rtol=1e-14, atol=0),
            "default alpha grid is 20 log-spaced values 1e-1..1e7")

# ---- srp
for nn, eps in [(1000, 0.1), (200, 0.1), (50, 0.3)]:
    vtref.check(ventral.jl_min_dim(nn, eps) == johnson_lindenstrauss_min_dim(nn, eps=eps),
                f"jl_min_dim({nn}, {eps}) == scikit-learn's")
p, k = 400, 60
r = ventral.srp(np.eye(p), k=k, seed=5)  # rows of the identity: the projection matrix itself
scale = p ** 0.25 / np.sqrt(k)
vals = np.unique(np.round(r / scale, 12))
vtref.check(set(vals.tolist()) <= {-1.0, 0.0, 1.0}, f"srp entries are 0 or +-p^(1/4)/sqrt(k) (got {vals[:5]})")
dens = np.count_nonzero(r) / r.size
vtref.check(abs(dens - 1 / np.sqrt(p)) < 4 * np.sqrt(1 / np.sqrt(p) / r.size), f"srp density {dens:.4f} ~ 1/sqrt(p)")
xs = rng.standard_normal((37, 900)).astype(np.float32)
z = ventral.srp(xs, k=100, seed=2)
vtref.check(z.dtype == np.float32 and z.shape == (37, 100), "srp of float32 is float32, n x k")
vtref.check(np.array_equal(z, ventral.srp(xs, k=100, seed=2, batch=5)), "srp bits do not depend on the batch size")
vtref.check(not np.array_equal(z, ventral.srp(xs, k=100, seed=3)), "another seed gives another projection")
vtref.check(np.array_equal(ventral.srp(xs[:, :50], k=100), xs[:, :50]), "srp with p <= k copies the features")
cli = v.run("srp", v.save("xs.npy", xs), "-o", v.path("z.npy"), "-k", "100", "--seed", "2")
if cli.returncode == 0:
    vtref.check(np.array_equal(np.load(v.path("z.npy")), z), "srp equals `ventral srp` bit for bit")

# ---- errors carry the library's message
bad = x.copy()
bad[3, 7] = np.nan
try:
    ventral.rsm(bad)
    vtref.check(False, "rsm of an array with NaN raises")
except ventral.VentralError as e:
    vtref.check("nan" in str(e).lower() or "finite" in str(e).lower(), f"NaN error message names the problem: {e}")
try:
    ventral.compare(np.eye(4), np.eye(5))
    vtref.check(False, "compare of different sizes raises")
except ventral.VentralError as e:
    vtref.check(len(str(e)) > 0, f"size mismatch raises with a message: {e}")
try:
    ventral.rsm(x, "euclid")
    vtref.check(False, "unknown metric raises")
except ventral.VentralError as e:
    vtref.check("pearson" in str(e), f"unknown metric lists the choices: {e}")
ventral.set_threads(1)
one = ventral.rsm(x)
ventral.set_threads(2)
vtref.check(ventral.get_threads() == 2 and np.array_equal(one, ventral.rsm(x)), "rsm bits do not depend on threads")
