#!/usr/bin/python3
"""ventral RSA vs numpy / scipy on the same data in one run (not a test).

    /usr/bin/python3 bench/bench_rsa.py --ventral build/ventral [--n 1000] [--p 6000] [--threads 0]

Data: X (n x p, float64) and a noisy copy Y; their Pearson RSMs give two n(n-1)/2-long triangles
(499,500 values for n = 1000). Three timings per statistic, best of --repeat:
  peer     numpy.corrcoef(X) / scipy.stats.{pearsonr, spearmanr, kendalltau}(a, b) in memory
  library  the same work through libventral on the same in-memory arrays (ctypes: vt_rsm_into,
           vt_compare_vectors), so no process start or file I/O is counted
  command  the ventral CLI end to end (process start, read .npy, compute, write/print)
Ratios are peer time / ventral time (> 1: ventral faster). Also: float32 RSM, and a 1000-resample
bootstrap of each comparison (ventral command; the numpy equivalent is extrapolated from 5
resamples of the straightforward materialise-and-correlate loop).
"""
import argparse
import ctypes
import os
import subprocess
import tempfile
import time

import numpy as np
from scipy import stats

VT_F32, VT_F64 = 9, 10
METHODS = {"pearson": 0, "spearman": 1, "kendall": 2}


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


class Lib:
    """The few libventral entry points the benchmark calls, over numpy arrays."""

    def __init__(self, path):
        self.so = ctypes.CDLL(path)
        self.so.vt_tensor_wrap.restype = ctypes.c_void_p
        self.so.vt_tensor_wrap.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p]
        self.so.vt_tensor_free.argtypes = [ctypes.c_void_p]
        self.so.vt_rsm_into.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        self.so.vt_compare_vectors.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int,
                                               ctypes.POINTER(ctypes.c_double)]
        self.so.vt_last_error.restype = ctypes.c_char_p

    def set_threads(self, n):
        self.so.vt_threads_set(n)

    def _wrap(self, a):
        shape = (ctypes.c_int64 * a.ndim)(*a.shape)
        return self.so.vt_tensor_wrap(VT_F32 if a.dtype == np.float32 else VT_F64, a.ndim, shape, a.ctypes.data)

    def rsm(self, x, out):
        tx, to = self._wrap(x), self._wrap(out)
        st = self.so.vt_rsm_into(tx, 0, to)
        self.so.vt_tensor_free(tx), self.so.vt_tensor_free(to)
        if st:
            raise RuntimeError(self.so.vt_last_error().decode())

    def compare(self, a, b, method):
        r = ctypes.c_double()
        st = self.so.vt_compare_vectors(a.ctypes.data, b.ctypes.data, len(a), METHODS[method], ctypes.byref(r))
        if st:
            raise RuntimeError(self.so.vt_last_error().decode())
        return r.value


def numpy_resample(a, b, n, method, rng):
    s = np.sort(rng.integers(0, n, n))
    i, j = np.triu_indices(n, 1)
    keep = s[i] != s[j]
    x, y = a[s[i], s[j]][keep], b[s[i], s[j]][keep]
    return {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[method](x, y)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True, help="the ventral executable; libventral.so is beside it")
    ap.add_argument("--lib", help="libventral.so (default: beside --ventral)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--p", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=0, help="ventral threads (0 = all cores)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (0: skip)")
    a = ap.parse_args()
    lib = Lib(a.lib or os.path.join(os.path.dirname(os.path.abspath(a.ventral)), "libventral.so"))
    lib.set_threads(a.threads)
    threads = ["--threads", str(a.threads)]

    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.n, a.p))
    y = x + 2.0 * rng.standard_normal((a.n, a.p))
    print(f"X, Y: {a.n} x {a.p} float64; ventral threads = {a.threads or os.cpu_count()}; best of {a.repeat}")
    rows = []

    def row(what, t_peer, t_lib, t_cmd, peer):
        rows.append((what, t_peer, t_lib, t_cmd, peer))
        lib_s = f"{t_lib * 1e3:9.1f} ms ({t_peer / t_lib:5.2f}x)" if t_lib else " " * 22
        cmd_s = f"{t_cmd * 1e3:9.1f} ms ({t_peer / t_cmd:5.2f}x)" if t_cmd else ""
        print(f"  {what:<28} {peer:<22} {t_peer * 1e3:9.1f} ms | library {lib_s} | command {cmd_s}")

    with tempfile.TemporaryDirectory(prefix="bench-rsa-") as tmp:
        xp, yp = os.path.join(tmp, "X.npy"), os.path.join(tmp, "Y.npy")
        rx, ry = os.path.join(tmp, "RX.npy"), os.path.join(tmp, "RY.npy")
        np.save(xp, x), np.save(yp, y)

        # RSM, float64 and float32.
        ref = np.corrcoef(x)
        out = np.empty((a.n, a.n))
        t_np = best(lambda: np.corrcoef(x), a.repeat)
        t_lib = best(lambda: lib.rsm(x, out), a.repeat)
        t_cmd = best(lambda: subprocess.run([a.ventral, *threads, "rsm", xp, "-o", rx], check=True), a.repeat)
        err = np.abs(np.load(rx) - ref).max()
        row(f"rsm {a.n}x{a.p} f64", t_np, t_lib, t_cmd, "numpy.corrcoef")
        x32 = x.astype(np.float32)
        out32 = np.empty((a.n, a.n), np.float32)
        t_np32 = best(lambda: np.corrcoef(x32), a.repeat)
        t_lib32 = best(lambda: lib.rsm(x32, out32), a.repeat)
        err32 = np.abs(out32 - ref).max()
        row(f"rsm {a.n}x{a.p} f32", t_np32, t_lib32, None, "numpy.corrcoef (f32 in)")
        print(f"    max |ventral - numpy.corrcoef(float64 X)|: float64 {err:.2g}, float32 {err32:.2g}")
        subprocess.run([a.ventral, *threads, "rsm", yp, "-o", ry], check=True)

        # Comparisons of the two triangles.
        iu = np.triu_indices(a.n, 1)
        ta, tb = np.ascontiguousarray(np.load(rx)[iu]), np.ascontiguousarray(np.load(ry)[iu])
        peers = {"pearson": lambda: stats.pearsonr(ta, tb)[0], "spearman": lambda: stats.spearmanr(ta, tb)[0],
                 "kendall": lambda: stats.kendalltau(ta, tb)[0]}
        for method, peer in peers.items():
            ref_r = peer()
            got = lib.compare(ta, tb, method)
            t_peer = best(peer, a.repeat if method != "kendall" else max(2, a.repeat // 2))
            t_lib = best(lambda: lib.compare(ta, tb, method), a.repeat)
            cmd = [a.ventral, *threads, "compare", rx, ry, "--method", method]
            t_cmd = best(lambda: subprocess.run(cmd, check=True, capture_output=True), a.repeat)
            row(f"compare {len(ta):,} {method}", t_peer, t_lib, t_cmd, f"scipy.stats.{peer.__name__ if False else method}")
            print(f"    r = {got:.12f}, scipy {ref_r:.12f}, |diff| {abs(got - ref_r):.2g}")

        # Bootstrap over stimuli.
        if a.boot:
            for method in METHODS:
                cmd = [a.ventral, *threads, "compare", rx, ry, "--method", method, "--bootstrap", str(a.boot),
                       "--json"]
                t_cmd = best(lambda: subprocess.run(cmd, check=True, capture_output=True), 1)
                ra_, rb_ = np.load(rx), np.load(ry)
                brng = np.random.default_rng(1)
                t5 = best(lambda: [numpy_resample(ra_, rb_, a.n, method, brng) for _ in range(5)], 1)
                t_np_boot = t5 / 5 * a.boot
                print(f"  bootstrap {a.boot} x {method:<9} numpy/scipy loop ~{t_np_boot:8.1f} s (extrapolated) | "
                      f"command {t_cmd:7.2f} s ({t_np_boot / t_cmd:5.1f}x)")


if __name__ == "__main__":
    main()
