#!/usr/bin/python3
"""ventral srp vs scikit-learn SparseRandomProjection on the same data in one run (not a test).

    /usr/bin/python3 bench/bench_srp.py --ventral build/ventral [--n 1000] [--p 100000] [--k 5920] [--dtype float32]

ventral is timed end to end as a command (read X.npy, build R, project, write Z.npy), best of
--repeat runs; scikit-learn as fit + transform on an in-memory array (dense_output=True), and
transform alone, best of --repeat. The ratio is sklearn time / ventral time (> 1: ventral faster),
for wall time and for CPU time (user + system, children included: robust on a shared machine;
ventral's CPU time adds up all its threads, so the CPU ratio is the work ratio).
"""
import argparse
import os
import resource
import subprocess
import tempfile
import time

import numpy as np
from sklearn.random_projection import SparseRandomProjection


def cpu_seconds():
    """CPU time of this process plus its finished children (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def best(fn, repeat):
    """Best wall time and best CPU time over `repeat` runs (CPU time is robust on a busy machine)."""
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), cpu_seconds()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(cpu_seconds() - c)
    return min(walls), min(cpus)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--p", type=int, default=100000)
    ap.add_argument("--k", type=int, default=5920)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=0, help="ventral threads (0 = all cores)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.n, a.p), dtype=np.float32).astype(a.dtype)
    with tempfile.TemporaryDirectory(prefix="bench-srp-") as tmp:
        xp, zp = os.path.join(tmp, "X.npy"), os.path.join(tmp, "Z.npy")
        np.save(xp, x)
        cmd = [a.ventral, "--threads", str(a.threads), "srp", xp, "-o", zp, "-k", str(a.k), "--seed", "0"]
        t_vt = best(lambda: subprocess.run(cmd, check=True), a.repeat)
        z = np.load(zp)

        def sk_fit_transform():
            global z_sk
            z_sk = SparseRandomProjection(n_components=a.k, dense_output=True, random_state=0).fit_transform(x)

        t_sk = best(sk_fit_transform, a.repeat)
        model = SparseRandomProjection(n_components=a.k, dense_output=True, random_state=0).fit(x)
        t_sk_tr = best(lambda: model.transform(x), a.repeat)

    # Same distribution, different random matrices: compare the squared-norm ratios.
    norm_x = (x.astype(np.float64) ** 2).sum(1)
    r_vt = (z.astype(np.float64) ** 2).sum(1) / norm_x
    r_sk = (z_sk.astype(np.float64) ** 2).sum(1) / norm_x
    print(f"X {a.n} x {a.p} {a.dtype} -> k = {a.k}; ventral threads = {a.threads or os.cpu_count()}")
    print(f"  |Zx|^2/|x|^2: ventral mean {r_vt.mean():.4f} sd {r_vt.std():.4f}; "
          f"sklearn mean {r_sk.mean():.4f} sd {r_sk.std():.4f}; output dtypes {z.dtype} / {z_sk.dtype}")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  {'':52s} {'wall':>8s} {'ratio':>7s} {'cpu':>8s} {'ratio':>7s}")
    rows = [("ventral srp (command: read, plan, project, write)", t_vt, None),
            ("sklearn SparseRandomProjection fit + transform", t_sk, t_vt),
            ("sklearn transform only (R already built)", t_sk_tr, t_vt)]
    for name, (wall, cpu), ref in rows:
        ratios = ("", "") if ref is None else (f"{wall / ref[0]:6.1f}x", f"{cpu / ref[1]:6.1f}x")
        print(f"  {name:52s} {wall:7.3f}s {ratios[0]:>7s} {cpu:7.3f}s {ratios[1]:>7s}")

if __name__ == "__main__":
    main()
