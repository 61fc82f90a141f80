"""How much of ventral's pruned MSE sweep can a tighter lower bound save? (docs/ridge.md)

Not a test. On simulated weakly predictable targets (as the benchmark's non-planted layers give), builds the
triangular form of the LOO error, ||R_a z||^2 with R_a = U diag(w) and U^T U = Q^T diag(u) Q (u_i = 1/d_i^2),
and reports, for the losing target-alpha pairs (error above the best one's by more than the 1e-3 margin):
how many the current bound min(u)·||w∘z||^2 excludes, how many the smallest eigenvalue of Q^T diag(u) Q would,
and how many the partial sums over the last quarter / half of the rows of R_a z would (lower bounds that cost
1/16 and 1/4 of the full product when the basis is ordered by decreasing eigenvalue).

    /usr/bin/python3 bench/ridge_sweep_bounds.py [--n 500 --p 5920 --v 2000]
"""
import argparse

import numpy as np


def make_data(n, p, v, seed=0):
    """ReLU features with a shared low-rank part; targets = standardised linear read-out × SNR in [0, 1.5] + noise."""
    r = np.random.default_rng(seed)
    z = r.standard_normal((n, 64))
    x = np.maximum(z @ r.standard_normal((64, p)) * 0.3 + r.standard_normal((n, p)) * 0.5, 0)
    s = x @ (r.standard_normal((p, v)) / np.sqrt(p))
    s = (s - s.mean(0)) / s.std(0)
    return x, s * r.uniform(0, 1.5, v) + r.standard_normal((n, v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--p", type=int, default=5920)
    ap.add_argument("--v", type=int, default=2000)
    ap.add_argument("--margin", type=float, default=1e-3)
    a = ap.parse_args()
    x, y = make_data(a.n, a.p, a.v)
    n = a.n
    xc, yc = x - x.mean(0), y - y.mean(0)
    lam, q = np.linalg.eigh(xc @ xc.T)
    keep = lam > lam.max() * 1e-10
    lam, q = lam[keep][::-1].copy(), q[:, keep][:, ::-1].copy()  # decreasing: the small eigenvalues last
    m = len(lam)
    z = q.T @ yc
    alphas = np.logspace(-1, 7, 20)
    err, b_min, b_eig, part = [], [], [], {0.25: [], 0.5: []}
    for al in alphas:
        w = al / (lam + al)
        d = 1 - (q**2) @ (lam / (lam + al)) - 1.0 / n
        u = 1 / d**2
        g = q.T @ (u[:, None] * q)
        cn = ((w[:, None] * z) ** 2).sum(0)
        b_min.append(u.min() * cn)
        b_eig.append(np.linalg.eigvalsh(g)[0] * cn)
        t2 = (np.linalg.cholesky(g).T @ (w[:, None] * z)) ** 2
        err.append(t2.sum(0))
        for f in part:
            part[f].append(t2[int(m * (1 - f)):].sum(0))
    err = np.array(err)
    # The bound is compared with the error at the best alpha (ventral compares with the error at the
    # alpha the GCV-like estimate predicts, usually the same one).
    limit = err.min(0) * (1 + a.margin)
    losing = err > limit
    print(f"n={n} p={a.p} v={a.v}, {len(alphas)} alphas: {losing.sum()} losing target-alpha pairs of {err.size}")
    print(f"  LOO error spread over the alphas, median target: {np.median(err.max(0) / err.min(0)):.3f}x")
    current = (np.array(b_min) > limit) & losing
    for name, bound in (("min u (ventral's bound)", b_min), ("smallest eigenvalue", b_eig),
                        ("last quarter of the rows", part[0.25]), ("last half of the rows", part[0.5])):
        excluded = (np.array(bound) > limit) & losing
        print(f"  {name:26s} excludes {excluded.sum():6d}, {(excluded & ~current).sum():6d} of them not yet excluded")


if __name__ == "__main__":
    main()
