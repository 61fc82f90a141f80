"""ventral: a small ctypes binding over libventral (numpy in, numpy out).

    import numpy as np, ventral
    r = ventral.rsm(x)                              # n x n Pearson RSM of the rows of x
    ventral.compare(r1, r2, method="spearman")      # correlation of the upper triangles
    fit = ventral.ridge(xtr, ytr, xte, yte)         # alpha per target by LOO-GCV: dict of arrays
    z = ventral.srp(x, eps=0.1, seed=0)             # very sparse random projection

The library is found, in order, at $VENTRAL_LIB, next to this package's checkout in build*/ folders,
then by the system loader (`libventral.so.0`). Inputs are float32 or float64 numpy arrays (converted to
C-contiguous copies when needed); errors raise VentralError with the library's message.
Threads: set_threads(n) (or the environment variable VENTRAL_THREADS), as with the CLI's --threads.
"""
import ctypes
import glob
import os

import numpy as np

__all__ = ["VentralError", "rsm", "compare", "ridge", "srp", "jl_min_dim", "set_threads", "get_threads",
           "version", "default_alphas", "library_path"]

_MAX_RANK = 8
_F32, _F64 = 9, 10  # vt_dtype values of VT_F32, VT_F64
_DTYPES = {np.dtype(np.float32): _F32, np.dtype(np.float64): _F64}


class VentralError(RuntimeError):
    """A libventral call failed; the message is vt_last_error()."""


class _Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("rank", ctypes.c_int), ("shape", ctypes.c_int64 * _MAX_RANK),
                ("data", ctypes.c_void_p), ("storage", ctypes.c_int), ("map_base", ctypes.c_void_p),
                ("map_len", ctypes.c_size_t)]


class _RidgeOptions(ctypes.Structure):
    _fields_ = [("alphas", ctypes.POINTER(ctypes.c_double)), ("n_alphas", ctypes.c_int), ("criterion", ctypes.c_int),
                ("sweep", ctypes.c_int), ("block", ctypes.c_int64), ("margin", ctypes.c_double)]


class _RidgeOutputs(ctypes.Structure):
    _fields_ = [(n, ctypes.POINTER(_Tensor))
                for n in ("alpha", "coef", "intercept", "loo", "pred", "score", "basis", "train_mean")]


_TP = ctypes.POINTER(_Tensor)


def _candidates():
    env = os.environ.get("VENTRAL_LIB")
    if env:
        yield env
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for d in ["build"] + sorted(os.path.basename(p) for p in glob.glob(os.path.join(root, "build*"))):
        yield os.path.join(root, d, "libventral.so")
    yield "libventral.so.0"
    yield "libventral.so"


def _load():
    errors = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("libventral not found (set VENTRAL_LIB to the path of libventral.so); tried: "
                      + "; ".join(errors or ["nothing found"]))


_lib, library_path = _load()


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_last_error = _fn("vt_last_error", ctypes.c_char_p)
_version = _fn("vt_version", ctypes.c_char_p)
_threads_set = _fn("vt_threads_set", None, ctypes.c_int)
_threads_get = _fn("vt_threads_get", ctypes.c_int)
_threads_init = _fn("vt_threads_init", None)
_wrap = _fn("vt_tensor_wrap", _TP, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p)
_free = _fn("vt_tensor_free", None, _TP)
_rsm_parse = _fn("vt_rsm_metric_parse", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int))
_rsm_into = _fn("vt_rsm_into", ctypes.c_int, _TP, ctypes.c_int, _TP)
_corr_parse = _fn("vt_corr_method_parse", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int))
_compare = _fn("vt_compare", ctypes.c_int, _TP, _TP, ctypes.c_int, ctypes.POINTER(ctypes.c_double))
_ridge_init = _fn("vt_ridge_options_init", None, ctypes.POINTER(_RidgeOptions))
_ridge_alphas = _fn("vt_ridge_default_alphas", None, ctypes.POINTER(ctypes.c_double))
_ridge_fit = _fn("vt_ridge_fit", ctypes.c_int, _TP, _TP, _TP, _TP, ctypes.POINTER(_RidgeOptions),
                 ctypes.POINTER(_RidgeOutputs), ctypes.c_void_p)
_jl = _fn("vt_srp_jl_min_dim", ctypes.c_int, ctypes.c_int64, ctypes.c_double, ctypes.POINTER(ctypes.c_int64))
_plan_new = _fn("vt_srp_plan_new", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint64,
                ctypes.POINTER(ctypes.c_void_p))
_plan_free = _fn("vt_srp_plan_free", None, ctypes.c_void_p)
_plan_out = _fn("vt_srp_plan_out_dim", ctypes.c_int64, ctypes.c_void_p)
_srp_apply = _fn("vt_srp_apply", ctypes.c_int, ctypes.c_void_p, _TP, _TP)
_threads_init()


def _check(status):
    if status != 0:
        raise VentralError(_last_error().decode("utf-8", "replace"))


class _View:
    """A borrowed vt_tensor header over a numpy array (the array is kept alive with it)."""

    def __init__(self, a):
        self.array = a
        shape = (ctypes.c_int64 * max(a.ndim, 1))(*a.shape)
        self.ptr = _wrap(_DTYPES[a.dtype], a.ndim, shape, a.ctypes.data)
        if not self.ptr:
            _check(1)

    def __enter__(self):
        return self.ptr

    def __exit__(self, *exc):
        _free(self.ptr)
        self.ptr = None


def _array(x, name, dtype=None, ndim=None):
    a = np.asarray(x)
    if dtype is None:
        dtype = a.dtype if a.dtype in _DTYPES else np.float64
    a = np.ascontiguousarray(a, dtype=dtype)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {a.shape}")
    return a


def version():
    """libventral's version string."""
    return _version().decode()


def set_threads(n):
    """Threads for ventral's loops, OpenBLAS and oneDNN (results do not depend on it)."""
    _threads_set(int(n))


def get_threads():
    return int(_threads_get())


def rsm(x, metric="pearson"):
    """n x n similarity matrix of the rows of x (stimuli x features): pearson, spearman or cosine.
    float32 input gives float32 output, anything else float64."""
    x = _array(x, "x", ndim=2)
    m = ctypes.c_int()
    _check(_rsm_parse(metric.encode(), ctypes.byref(m)))
    out = np.empty((x.shape[0], x.shape[0]), x.dtype)
    with _View(x) as tx, _View(out) as to:
        _check(_rsm_into(tx, m.value, to))
    return out


def compare(a, b, method="pearson"):
    """Correlation (pearson, spearman, kendall) of the strict upper triangles of two square matrices
    of one size, or of two vectors of one length."""
    a, b = _array(a, "a"), _array(b, "b")
    m = ctypes.c_int()
    _check(_corr_parse(method.encode(), ctypes.byref(m)))
    r = ctypes.c_double()
    with _View(a) as ta, _View(b) as tb:
        _check(_compare(ta, tb, m.value, ctypes.byref(r)))
    return r.value


def default_alphas():
    """ventral's default alpha grid: 20 log-spaced values 1e-1..1e7."""
    a = (ctypes.c_double * 20)()
    _ridge_alphas(a)
    return np.array(a[:])


def ridge(x_train, y_train, x_test=None, y_test=None, alphas=None, criterion="mse", sweep="mixed"):
    """Ridge per target (columns of y_train) with alpha chosen by exact leave-one-out GCV.
    criterion: 'mse' (scikit-learn RidgeCV(alpha_per_target=True)) or 'loo-pearson' (DeepNSD).
    Returns a dict of float64 arrays: alpha (v), coef (p x v), intercept (v), loo (n x v LOO predictions);
    with x_test also pred (n_test x v); with y_test also score (v, Pearson r of pred vs y_test)."""
    xtr = _array(x_train, "x_train", ndim=2)
    ytr = _array(y_train, "y_train", ndim=2)
    n, p = xtr.shape
    v = ytr.shape[1]
    opt = _RidgeOptions()
    _ridge_init(ctypes.byref(opt))
    crit = {"mse": 0, "loo-pearson": 1, "loo_pearson": 1}
    if criterion not in crit:
        raise ValueError(f"criterion: 'mse' or 'loo-pearson', not {criterion!r}")
    opt.criterion = crit[criterion]
    if sweep not in ("mixed", "double"):
        raise ValueError(f"sweep: 'mixed' or 'double', not {sweep!r}")
    opt.sweep = 0 if sweep == "mixed" else 1
    if alphas is not None:
        al = np.ascontiguousarray(alphas, dtype=np.float64).ravel()
        opt.alphas = al.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        opt.n_alphas = len(al)
    res = {"alpha": np.empty(v), "coef": np.empty((p, v)), "intercept": np.empty(v), "loo": np.empty((n, v))}
    xte = yte = None
    if x_test is not None:
        xte = _array(x_test, "x_test", ndim=2)
        res["pred"] = np.empty((xte.shape[0], v))
    if y_test is not None:
        if xte is None:
            raise ValueError("y_test needs x_test")
        yte = _array(y_test, "y_test", ndim=2)
        res["score"] = np.empty(v)
    views = {k: _View(a) for k, a in res.items()}
    inputs = [_View(a) if a is not None else None for a in (xtr, ytr, xte, yte)]
    try:
        outs = _RidgeOutputs(**{k: vw.ptr for k, vw in views.items()})
        ptrs = [vw.ptr if vw is not None else None for vw in inputs]
        _check(_ridge_fit(ptrs[0], ptrs[1], ptrs[2], ptrs[3], ctypes.byref(opt), ctypes.byref(outs), None))
    finally:
        for vw in list(views.values()) + [i for i in inputs if i is not None]:
            vw.__exit__()
    return res


def jl_min_dim(n_samples, eps=0.1):
    """Johnson-Lindenstrauss dimension floor(4 ln n / (eps^2/2 - eps^3/3)) (scikit-learn's)."""
    k = ctypes.c_int64()
    _check(_jl(int(n_samples), float(eps), ctypes.byref(k)))
    return k.value


def srp(x, k=None, eps=0.1, seed=0, batch=None):
    """Very sparse random projection of the rows of x (n x p) to k columns (default: the JL dimension for
    n rows and eps). Identity (a copy) when p <= k. The projection is a pure function of (seed, p, k), so
    projecting row blocks separately (batch) gives the same bits."""
    x = _array(x, "x", ndim=2)
    n, p = x.shape
    if k is None:
        k = jl_min_dim(n, eps)
    plan = ctypes.c_void_p()
    _check(_plan_new(p, int(k), int(seed), ctypes.byref(plan)))
    try:
        out = np.empty((n, int(_plan_out(plan))), x.dtype)
        step = batch or max(n, 1)
        for s in range(0, n, step):
            xb, zb = x[s:s + step], out[s:s + step]
            with _View(xb) as tx, _View(zb) as tz:
                _check(_srp_apply(plan, tx, tz))
    finally:
        _plan_free(plan)
    return out
