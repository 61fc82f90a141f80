"""The cost of `--precision bf16` in accuracy, measured against float32 on the same model and inputs:
per-layer relative error (max |bf16 - f32| / max |f32|) and the Pearson correlation between the
float32 and bf16 representational similarity matrices (stimulus x stimulus Pearson correlations of
each layer's flattened features, upper triangles). Asserts RSM correlation >= 0.99 for every layer.

Models: resnet18 and a small ViT from export_models.py (random init, seed 0); inputs: 64 smooth random
images (Gaussian noise blurred with a 9x9 box filter, then standardised), more image-like than white noise.
VENTRAL_BF16_N sets the number of inputs. Skipped (passes) on CPUs without native bf16.
"""
import json
import os
import subprocess
import sys

import numpy as np

import vtref

HERE = os.path.dirname(os.path.abspath(__file__))


def smooth_images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, size + 8, size + 8))
    c = np.cumsum(np.cumsum(x, axis=2), axis=3)  # 9x9 box blur via summed-area table
    c = np.pad(c, ((0, 0), (0, 0), (1, 0), (1, 0)))
    b = c[:, :, 9:, 9:] - c[:, :, :-9, 9:] - c[:, :, 9:, :-9] + c[:, :, :-9, :-9]
    b = b[:, :, :size, :size]
    return ((b - b.mean()) / b.std()).astype(np.float32)


def rsm_upper(f):
    f = f.reshape(f.shape[0], -1).astype(np.float64)
    f = f - f.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    norm[norm == 0] = 1
    r = (f / norm) @ (f / norm).T
    return r[np.triu_indices(r.shape[0], 1)]


def main():
    args = vtref.parse_args()
    v = vtref.Ventral(args.ventral)
    n = int(os.environ.get("VENTRAL_BF16_N", "64"))
    fix = v.path("fixtures")
    r = subprocess.run([sys.executable, os.path.join(HERE, "export_models.py"), "--out", fix, "--models",
                        "resnet18,vit"], capture_output=True, text=True)
    vtref.check(r.returncode == 0, f"export_models.py failed: {r.stderr[-1000:]}")
    if r.returncode != 0:
        return
    for m, size in (("resnet18", 64), ("vit", 32)):
        x = v.save(f"{m}_x.npy", smooth_images(n, size))
        model = os.path.join(fix, m + ".onnx")
        outs = {}
        for prec in ("f32", "bf16"):
            d = v.path(f"{m}_{prec}")
            res = v.run("run", model, "--input", x, "--out", d, "--precision", prec, "--batch", "16", expect_ok=False)
            if res.returncode != 0:
                if prec == "bf16" and "neither" in res.stderr:
                    print(f"  {m}: this CPU has no native bf16: skipped ({res.stderr.strip()})")
                    return
                vtref.check(False, f"{m} {prec}: {res.stderr.strip()}")
                break
            with open(os.path.join(d, "manifest.json")) as f:
                outs[prec] = (d, json.load(f))
        if len(outs) < 2:
            continue
        d32, man = outs["f32"]
        d16 = outs["bf16"][0]
        rel, corr, worst_layer = [], [], ""
        for e in man:
            if e["kind"] != "layer" or e["shape"][0] != n or e.get("batch_axis", 0) < 0:
                continue
            a = np.load(os.path.join(d32, e["file"]))
            b = np.load(os.path.join(d16, e["file"]))
            scale = float(np.abs(a).max())
            rel.append(float(np.abs(a.astype(np.float64) - b).max()) / scale if scale else 0.0)
            ra, rb = rsm_upper(a), rsm_upper(b)
            c = 1.0 if np.allclose(ra, rb) else float(np.corrcoef(ra, rb)[0, 1])
            if not corr or c < min(corr):
                worst_layer = e["name"]
            corr.append(c)
        print(f"  {m}: {len(corr)} layers, {n} inputs: relative error median {np.median(rel):.3g}, max {max(rel):.3g}; "
              f"RSM correlation f32 vs bf16 min {min(corr):.5f} ({worst_layer}), median {np.median(corr):.5f}")
        vtref.check(min(corr) >= 0.99, f"{m}: RSM correlation {min(corr):.4f} < 0.99 at {worst_layer}")


if __name__ == "__main__":
    main()
