#!/usr/bin/python3
"""ventral RSA vs numpy / scipy on the same data in one run (not a test).

    /usr/bin/python3 bench/bench_rsa.py --ventral build/ventral [--n 1000] [--p 6000] [--repeat 5] [--boot 1000]

Data: X (n x p float64) and Y = X + 2·noise; RSM(X) and RSM(Y) give two n(n-1)/2-long triangles
(499,500 values for n = 1000). Timings, best of --repeat, wall clock (and, in brackets, CPU time
of all threads: on a machine shared with other work, CPU-time ratios at --threads 1 are the
steadier figure, as scipy's statistics are single-threaded):
  peer     numpy.corrcoef(X), scipy.stats.{pearsonr, spearmanr, kendalltau}(a, b) in memory
  library  the same work through libventral on in-memory data: bench/bench_rsa.c, compiled here
           against the libventral.so beside --ventral and run in a process of its own (so its
           OpenMP OpenBLAS never shares a process with numpy's BLAS)
  command  the ventral CLI end to end: process start, read .npy, compute, write / print
Ratios are peer time / ventral time (> 1: ventral faster). Then a --boot-resample bootstrap of
each comparison: ventral's library against the straightforward numpy/scipy loop (materialise
the resampled triangles, correlate), extrapolated from 3 resamples.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

# --omp-passive: OpenMP threads sleep instead of spinning while they wait, in numpy's process and in
# ventral's alike. On a machine shared with other work, spinning threads take the cores their own
# team needs; ventral's OpenMP loops suffer more from it than numpy's single-threaded ones. GNU
# OpenMP reads the setting when it starts, so it is set before numpy is imported.
if "--omp-passive" in sys.argv:
    os.environ["OMP_WAIT_POLICY"] = "passive"

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def best(fn, repeat):
    """Best wall and best CPU seconds (this process and finished children) of `repeat` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0 = time.process_time() + _children_cpu()
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() + _children_cpu() - c0)
    return min(walls), min(cpus)


def _children_cpu():
    t = os.times()
    return t.children_user + t.children_system


def numpy_resample(a, b, n, method, rng):
    s = np.sort(rng.integers(0, n, n))
    i, j = np.triu_indices(n, 1)
    keep = s[i] != s[j]
    x, y = a[s[i], s[j]][keep], b[s[i], s[j]][keep]
    return {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[method](x, y)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True, help="the ventral executable; libventral.so is beside it")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--p", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=0, help="ventral threads (0 = all cores)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (0: skip)")
    ap.add_argument("--omp-passive", action="store_true", help="OMP_WAIT_POLICY=passive for numpy and ventral")
    a = ap.parse_args()
    build = os.path.dirname(os.path.abspath(a.ventral))
    env = dict(os.environ, VENTRAL_THREADS=str(a.threads))
    threads = ["--threads", str(a.threads)]

    with tempfile.TemporaryDirectory(prefix="bench-rsa-") as tmp:
        exe = os.path.join(tmp, "bench_rsa")
        subprocess.run(["cc", "-O2", "-std=c11", os.path.join(HERE, "bench_rsa.c"), "-I",
                        os.path.join(HERE, "..", "include"), "-L", build, "-lventral", f"-Wl,-rpath,{build}",
                        "-o", exe], check=True)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((a.n, a.p))
        y = x + 2.0 * rng.standard_normal((a.n, a.p))
        xp, yp = os.path.join(tmp, "X.npy"), os.path.join(tmp, "Y.npy")
        rx, ry = os.path.join(tmp, "RX.npy"), os.path.join(tmp, "RY.npy")
        np.save(xp, x), np.save(yp, y)

        out = subprocess.run([exe, xp, yp, str(a.repeat), str(a.boot)], check=True, capture_output=True, text=True,
                             env=env).stdout
        lib = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in out.splitlines()}
        lib = {k: ((v[0], v[1]), *v[2:]) for k, v in lib.items()}  # ((wall, cpu), values...)

        print(f"X, Y: {a.n} x {a.p} float64; ventral threads = {a.threads or os.cpu_count()}; "
              f"best of {a.repeat}; load average {os.getloadavg()[0]:.1f}; "
              f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}")
        print(f"  {'':30} {'peer':>20} | {'ventral library':>32} | {'ventral command':>32}")

        def fmt(t, ref=None):
            ratio = f" {ref[0] / t[0]:5.2f}x [{ref[1] / t[1]:5.2f}x]" if ref else ""
            return f"{t[0] * 1e3:7.1f} [{t[1] * 1e3:7.1f}] ms{ratio}"

        def row(what, peer, t_peer, t_lib, t_cmd=None):
            cmd = fmt(t_cmd, t_peer) if t_cmd else ""
            print(f"  {what:<30} {fmt(t_peer)} | {fmt(t_lib, t_peer)} | {cmd}   ({peer})")

        ref = np.corrcoef(x)
        t_np = best(lambda: np.corrcoef(x), a.repeat)
        t_cmd = best(lambda: subprocess.run([a.ventral, *threads, "rsm", xp, "-o", rx], check=True), a.repeat)
        row(f"rsm {a.n}x{a.p} float64", "numpy.corrcoef", t_np, lib["rsm_f64"][0], t_cmd)
        err = np.abs(np.load(rx) - ref).max()
        x32 = x.astype(np.float32)
        t_np32 = best(lambda: np.corrcoef(x32), a.repeat)
        xp32, rx32 = os.path.join(tmp, "X32.npy"), os.path.join(tmp, "RX32.npy")
        np.save(xp32, x32)
        t_cmd32 = best(lambda: subprocess.run([a.ventral, *threads, "rsm", xp32, "-o", rx32], check=True), a.repeat)
        row(f"rsm {a.n}x{a.p} float32", "numpy.corrcoef, float32 X", t_np32, lib["rsm_f32"][0], t_cmd32)
        err32 = np.abs(np.load(rx32) - ref).max()
        print(f"    max |ventral - numpy.corrcoef(X)|: float64 {err:.2g}, float32 {err32:.2g}")

        subprocess.run([a.ventral, *threads, "rsm", yp, "-o", ry], check=True)
        iu = np.triu_indices(a.n, 1)
        RX, RY = np.load(rx), np.load(ry)
        ta, tb = RX[iu], RY[iu]
        peers = {"pearson": lambda: stats.pearsonr(ta, tb)[0], "spearman": lambda: stats.spearmanr(ta, tb)[0],
                 "kendall": lambda: stats.kendalltau(ta, tb)[0]}
        for method, peer in peers.items():
            r_ref = peer()
            t_peer = best(peer, a.repeat)
            cmd = [a.ventral, *threads, "compare", rx, ry, "--method", method]
            t_cmd = best(lambda: subprocess.run(cmd, check=True, capture_output=True), a.repeat)
            t_lib, r_lib = lib[f"compare_{method}"]
            row(f"compare {len(ta):,} {method}", f"scipy.stats.{method}", t_peer, t_lib, t_cmd)
            print(f"    r = {r_lib:.15f}, scipy {r_ref:.15f}, |diff| {abs(r_lib - r_ref):.2g}")
        if a.boot:
            brng = np.random.default_rng(1)
            for method in peers:
                t3 = best(lambda: [numpy_resample(RX, RY, a.n, method, brng) for _ in range(3)], 1)
                t_np = (t3[0] / 3 * a.boot, t3[1] / 3 * a.boot)
                t_lib, est, lo, hi = lib[f"bootstrap_{method}"]
                print(f"  bootstrap {a.boot} x {method:<9} ~{t_np[0]:6.1f} [{t_np[1]:6.1f}] s | {t_lib[0]:6.2f} "
                      f"[{t_lib[1]:6.2f}] s {t_np[0] / t_lib[0]:5.1f}x [{t_np[1] / t_lib[1]:5.1f}x] | (numpy/scipy "
                      f"loop, extrapolated from 3)  r = {est:.4f}, 95% CI [{lo:.4f}, {hi:.4f}]")


if __name__ == "__main__":
    main()
