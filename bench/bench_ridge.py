"""ventral ridge vs scikit-learn RidgeCV(alpha_per_target=True) on the same data, one run each.

Not a test: prints wall times, the speed ratio, how often the chosen alphas agree (and whether the
disagreements are ties of the float64 GCV errors), and the fraction of this machine's BLAS peak the
ridge solve reaches (dgemm/sgemm peak measured here, with numpy on the same OpenBLAS).

    /usr/bin/python3 bench/bench_ridge.py --ventral build/ventral [--n 1000 --p 6000 --v 10000] [--check-double]
"""
import argparse
import json
import os
import resource
import subprocess
import tempfile
import time

import numpy as np


def make_data(n, p, v, seed=0):
    """Features with a power-law spectrum plus isotropic noise (like network activations, non-zero
    means), targets = linear signal + noise with a signal-to-noise ratio varying over 2 decades, so
    that the chosen alphas spread over the grid."""
    r = np.random.default_rng(seed)
    k = min(300, n, p)
    basis = r.standard_normal((n, k)) * (np.arange(1, k + 1) ** -0.5)
    x = basis @ r.standard_normal((k, p)) + 0.3 * r.standard_normal((n, p)) + r.standard_normal(p)
    sig = x @ (r.standard_normal((p, v)) / np.sqrt(p))
    y = sig + np.exp(r.uniform(-2, 3, v)) * sig.std(0) * r.standard_normal((n, v))
    return x, y


def blas_peak(dtype, size=3000, reps=3):
    a = np.random.default_rng(1).standard_normal((size, size)).astype(dtype)
    b = a.T.copy()
    a @ b
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * size**3 / best


def loo_errors(x, y, alphas):
    """Float64 LOO squared errors (scikit-learn's kernel formulas, via numpy) for a few targets."""
    n = x.shape[0]
    xc = x - x.mean(0)
    yc = y - y.mean(0)
    lam, q = np.linalg.eigh(xc @ xc.T + np.ones((n, n)))
    const = np.argmax(np.abs(q.sum(0)))
    qty = q.T @ yc
    out = []
    for a in alphas:
        w = 1.0 / (lam + a)
        w[const] = 0
        c = q @ (w[:, None] * qty)
        d = (q**2) @ w
        out.append(((c / d[:, None]) ** 2).sum(0))
    return np.array(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--p", type=int, default=6000)
    ap.add_argument("--v", type=int, default=10000)
    ap.add_argument("--check-double", action="store_true", help="also run the pure float64 sweep and compare")
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for both (0: all cores); with 1, CPU times compare fairly on a busy machine")
    ap.add_argument("--repeat", type=int, default=1,
                    help="alternate ventral and scikit-learn this many times, keep each one's best (busy machines)")
    args = ap.parse_args()
    alphas = np.logspace(-1, 7, 20)
    alpha_arg = ",".join(repr(float(a)) for a in alphas)  # the exact grid scikit-learn gets

    x, y = make_data(args.n, args.p, args.v)
    print(f"ridge benchmark: n={args.n} p={args.p} v={args.v} float64, 20 alphas 1e-1..1e7, "
          f"{os.cpu_count()} cores")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads if args.threads else None):
        peak64, peak32 = blas_peak(np.float64), blas_peak(np.float32)
    print(f"BLAS peak here (numpy matmul 3000^3, same OpenBLAS): dgemm {peak64 / 1e9:.1f} GFLOP/s, "
          f"sgemm {peak32 / 1e9:.1f} GFLOP/s")

    with tempfile.TemporaryDirectory(prefix="vtbench-") as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)
        np.save(os.path.join(tmp, "y.npy"), y)

        env = dict(os.environ)
        if args.threads:
            env["VENTRAL_THREADS"] = str(args.threads)

        def run_ventral(out, *extra):
            cmd = [args.ventral, "ridge", "--x-train", os.path.join(tmp, "x.npy"), "--y-train",
                   os.path.join(tmp, "y.npy"), "--alphas", alpha_arg, "--out", os.path.join(tmp, out), "--stats",
                   *extra]
            t = time.perf_counter()
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter() - t
            cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
            return wall, cpu, json.loads(r.stdout), np.load(os.path.join(tmp, out, "alpha.npy"))

        from sklearn.linear_model import RidgeCV
        t_vt = t_sk = cpu_vt = cpu_sk = np.inf
        for _ in range(args.repeat):
            t, cpu, st_i, a_vt = run_ventral("mixed")
            if t < t_vt:
                t_vt, st = t, st_i
            cpu_vt = min(cpu_vt, cpu)
            with threadpool_limits(args.threads if args.threads else None):
                t, c = time.perf_counter(), time.process_time()
                ref = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x, y)
                t_sk, cpu_sk = min(t_sk, time.perf_counter() - t), min(cpu_sk, time.process_time() - c)
        coef_vt = np.load(os.path.join(tmp, "mixed", "coef.npy"))

        lib = st["seconds_decompose"] + st["seconds_sweep"] + st["seconds_refine"] + st["seconds_solve"]
        ideal = st["flops_f64"] / peak64 + st["flops_f32"] / peak32
        print(f"threads: {args.threads or os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
        print(f"scikit-learn RidgeCV fit:      {t_sk:7.2f} s wall, {cpu_sk:7.2f} s CPU")
        print(f"ventral ridge (CLI, with I/O): {t_vt:7.2f} s wall, {cpu_vt:7.2f} s CPU   -> {t_sk / t_vt:.2f}x "
              f"scikit-learn in wall time, {cpu_sk / cpu_vt:.2f}x in CPU time")
        print(f"  library phases: decompose {st['seconds_decompose']:.2f} s, sweep {st['seconds_sweep']:.2f} s "
              f"({st['flops_f32'] / 1e9:.0f} GFLOP f32), float64 re-check {st['seconds_refine']:.2f} s "
              f"({st['refined']} targets, {st['refined_pairs']} target-alpha pairs), solve {st['seconds_solve']:.2f} s"
              f"; total {lib:.2f} s -> {t_sk / lib:.2f}x scikit-learn")
        print(f"  fraction of BLAS peak: {ideal / lib:.2f} of the library time, {ideal / t_vt:.2f} of the wall time "
              f"({st['flops_f64'] / 1e9:.0f} GFLOP f64 + {st['flops_f32'] / 1e9:.0f} GFLOP f32 issued)")

        same = a_vt == ref.alpha_
        print(f"alphas equal to scikit-learn's: {same.mean() * 100:.2f} % ({same.sum()}/{same.size})")
        bad = np.flatnonzero(~same)
        if bad.size:
            sel = bad[:200]
            e = loo_errors(x, y[:, sel], alphas)
            ia = np.searchsorted(alphas, a_vt[sel])
            ib = np.searchsorted(alphas, ref.alpha_[sel])
            ev, es = e[ia, np.arange(sel.size)], e[ib, np.arange(sel.size)]
            rel = np.abs(ev - es) / np.maximum(ev, es)
            print(f"  the {bad.size} disagreements: relative difference of their float64 LOO errors "
                  f"max {rel.max():.2e}, median {np.median(rel):.2e} (ties within float precision when <~1e-12)")
        rel = np.abs(coef_vt - ref.coef_.T).max() / np.abs(ref.coef_).max()
        print(f"coef max abs difference / max |coef| (same-alpha targets): "
              f"{np.abs(coef_vt[:, same] - ref.coef_.T[:, same]).max() / np.abs(ref.coef_).max():.2e} "
              f"(all targets {rel:.2e})")

        if args.check_double:
            t_d, _, st_d, a_d = run_ventral("double", "--sweep", "double")
            eq = a_d == a_vt
            print(f"pure float64 sweep: {t_d:.2f} s; mixed sweep chose the same alpha for {eq.sum()}/{eq.size}")


if __name__ == "__main__":
    main()
