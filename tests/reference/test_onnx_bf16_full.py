"""The cost of `--precision bf16` in accuracy on full-size models and natural images (issue 7's proof item).

Models: torchvision 0.14's resnet18 and vit_b_16, randomly initialised (torch.manual_seed(0)), exported at test
time to ONNX (opset 13, 224 x 224, symbolic batch; nothing downloaded, nothing committed) the way
bench/bench_onnx.py exports them. Each runs through `ventral run` twice on the same inputs, `--precision f32` and
`--precision bf16`, and every compared layer gets:
  - relative error: max |bf16 - f32| / max |f32|, and the RMS-relative error ||bf16 - f32|| / ||f32||
    (Frobenius norms over all stimuli and features), both accumulated in float64;
  - RSM correlation: the Pearson correlation between the upper triangles of the float32 and the bf16
    representational similarity matrices (N x N Pearson correlations of each stimulus' flattened features).
The test asserts RSM correlation >= 0.99 for every compared layer, that every layer it asked for was captured
(stimuli first, N rows), and that bf16 did change the results (max relative error > 1e-4; otherwise the
comparison would be vacuous).

Inputs (N = 200): natural photos, not noise. scikit-learn's two bundled photos (china.jpg, flower.jpg from
sklearn.datasets.load_sample_images, offline in Debian's python3-sklearn), alternately, cut into square crops
whose side is 20-100 % of the photo's short side (427 px) at a uniform random position (numpy
default_rng(0)), mirrored with probability 1/2, resized to 224 x 224 (PIL bilinear, antialiased), scaled to
[0, 1] and normalised with the ImageNet mean/std as torchvision's transform does.

Layers compared, and why: capturing every layer over 200 stimuli would write ~6 GB (resnet18) and ~100 GB
(vit_b_16: 616 layers, most of them 197 x 768 or 197 x 3072 per stimulus) per precision. The
comparison needs the float32 and the bf16 features of a layer at the same time (the element-wise error, and
the full N x N RSMs), so each model runs once per precision over all N stimuli, writes only the layers below,
and each layer's two files are deleted as soon as it is scored. That bounds the temporary files (input, models,
layer files) below 2 GB at the peak (printed; 1.97 GB measured):
  resnet18 (15 layers): the stem's output (maxpool), every residual block's output (the ReLU after the
    residual Add, 8 blocks), each layer of the last block (conv1, its ReLU, conv2, the residual Add), the
    global average pool and the logits. Convolutions are where bf16 enters; a block's output carries the
    error of its convolutions, accumulated over the depth before it.
  vit_b_16 (7 layers): the patch embedding (conv_proj), the residual stream after encoder blocks 0, 2, 5, 8
    and 11 (every bf16 matmul of a block -- QKV, attention, output projection, MLP -- feeds its output) and
    the class token after the final LayerNorm (the model's representation). Not its logits: torchvision
    initialises the head's weights and bias to zero, so a randomly initialised vit_b_16 outputs zeros.
The test also asserts that every compared layer's f32 RSM is not degenerate (its entries' SD > 1e-3).
Skipped (passes, printing why) only when ventral refuses bf16 on this CPU with its "has neither" message.
VENTRAL_BF16_FULL_N sets N (default 200). About 290 s of CPU time (266 s in ventral): ~3 minutes on an idle
2-core machine; 7-12 minutes were measured at load averages of 6-11.
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

import vtref

EXPORT = r'''
import sys, warnings, torch, torchvision
warnings.filterwarnings("ignore")
for name in sys.argv[2:]:
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)().eval()
    torch.onnx.export(m, torch.randn(1, 3, 224, 224), f"{sys.argv[1]}/{name}.onnx", opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
'''

# model: (capture spec, the layer names it must yield). vit_b_16 first: its larger ONNX file is deleted
# before resnet18's layers are written, which keeps the peak of temporary files below 2 GB.
MODELS = {
    "vit_b_16": (
        "name:/conv_proj/Conv,name:/encoder/layers/encoder_layer_[0258]/Add_1,"
        "name:/encoder/layers/encoder_layer_11/Add_1,op:Gather",
        ["/conv_proj/Conv"] + [f"/encoder/layers/encoder_layer_{b}/Add_1" for b in (0, 2, 5, 8, 11)] + ["/Gather_4"]),
    "resnet18": (
        "name:/maxpool/MaxPool,name:/layer[1-4]/layer[1-4].[01]/relu_1/Relu,name:/layer4/layer4.1/*,"
        "name:/avgpool/GlobalAveragePool,name:/fc/Gemm",
        ["/maxpool/MaxPool"] + [f"/layer{s}/layer{s}.{b}/relu_1/Relu" for s in range(1, 5) for b in range(2)]
        + ["/layer4/layer4.1/conv1/Conv", "/layer4/layer4.1/relu/Relu", "/layer4/layer4.1/conv2/Conv",
           "/layer4/layer4.1/Add", "/avgpool/GlobalAveragePool", "/fc/Gemm"]),
}
BF16_REFUSED = "bf16 precision needs a CPU with AVX512-BF16 or AMX; this one has neither"


def photo_crops(n, size=224, seed=0):
    """n crops of scikit-learn's two bundled photos, normalised like torchvision's ImageNet transform."""
    from PIL import Image
    from sklearn.datasets import load_sample_images
    photos = load_sample_images().images  # china.jpg, flower.jpg: 427 x 640 x 3 uint8
    rng = np.random.default_rng(seed)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        im = photos[i % 2]
        h, w, _ = im.shape
        s = int(rng.uniform(0.2, 1.0) * min(h, w))
        y0, x0 = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        a = np.asarray(Image.fromarray(im[y0:y0 + s, x0:x0 + s]).resize((size, size), Image.BILINEAR),
                       np.float64) / 255
        if rng.random() < 0.5:
            a = a[:, ::-1]
        x[i] = ((a - mean) / std).transpose(2, 0, 1)
    return x


def rsm_upper(f):
    """Upper triangle of the Pearson RSM of the rows of f (stimuli x features), in float64."""
    z = f.reshape(f.shape[0], -1).astype(np.float64)
    z -= z.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    norm[norm == 0] = 1
    z /= norm
    r = z @ z.T
    return r[np.triu_indices(r.shape[0], 1)]


def score_layer(a_path, b_path):
    """(max relative error, RMS-relative error, RSM correlation, f32 RSM spread) of one layer."""
    a = np.load(a_path, mmap_mode="r")
    b = np.load(b_path, mmap_mode="r")
    amax = dmax = asq = dsq = 0.0
    for i in range(0, a.shape[0], 25):  # float64 in row blocks: bounded memory
        ai = np.asarray(a[i:i + 25], np.float64)
        di = np.asarray(b[i:i + 25], np.float64) - ai
        amax, dmax = max(amax, float(np.abs(ai).max())), max(dmax, float(np.abs(di).max()))
        asq, dsq = asq + float(np.sum(ai * ai)), dsq + float(np.sum(di * di))
    ra, rb = rsm_upper(a), rsm_upper(b)
    corr = 1.0 if np.array_equal(ra, rb) else float(np.corrcoef(ra, rb)[0, 1])
    return (dmax / amax if amax else 0.0, np.sqrt(dsq / asq) if asq else 0.0, corr, float(ra.std()))


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def ventral(exe, *args, timeout=1500):
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def cpu_seconds(who):
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime


def main():
    args = vtref.parse_args()
    t_start = time.perf_counter()
    v = vtref.Ventral(args.ventral)
    n = int(os.environ.get("VENTRAL_BF16_FULL_N", "200"))

    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", EXPORT, v.dir, *MODELS], capture_output=True, text=True)
    if r.returncode != 0:
        vtref.check(False, f"exporting {', '.join(MODELS)}: {r.stderr[-2000:]}")
        return
    print(f"  exported {', '.join(MODELS)} (torchvision random init, seed 0, opset 13): "
          f"{time.perf_counter() - t:.1f} s")
    x = v.save("x.npy", photo_crops(n))
    print(f"  inputs: {n} crops of china.jpg / flower.jpg, 224 x 224, ImageNet-normalised")

    # Does this CPU do bf16? One stimulus through resnet18, nothing captured.
    probe = ventral(args.ventral, "run", v.path("resnet18.onnx"), "--input", v.save("x1.npy", np.load(x)[:1]),
                    "--out", v.path("probe"), "--capture", "none", "--no-write", "--precision", "bf16")
    if probe.returncode != 0:
        msg = probe.stderr.strip()
        refused = BF16_REFUSED in msg
        if refused:
            print(f"  SKIPPED: this CPU has no native bf16, ventral refuses --precision bf16: {msg}")
        vtref.check(refused, f"bf16 probe run failed for another reason: exit {probe.returncode}: {msg}")
        return

    summary = []
    for model, (spec, expected) in MODELS.items():
        onnx_path = v.path(model + ".onnx")
        dirs, man, secs, cpu, peak = {}, {}, {}, {}, 0
        for prec in ("f32", "bf16"):
            dirs[prec] = v.path(f"{model}_{prec}")
            t, c = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
            r = ventral(args.ventral, "run", onnx_path, "--input", x, "--out", dirs[prec], "--capture", spec,
                        "--batch", "20", "--precision", prec)
            secs[prec], cpu[prec] = time.perf_counter() - t, cpu_seconds(resource.RUSAGE_CHILDREN) - c
            if r.returncode != 0:
                vtref.check(False, f"{model} {prec}: exit {r.returncode}: {r.stderr.strip()}")
                break
            with open(os.path.join(dirs[prec], "manifest.json")) as f:
                man[prec] = json.load(f)
            peak = max(peak, du(v.dir))
        if len(man) < 2:
            continue
        layers = [e for e in man["f32"] if e["kind"] == "layer"]
        names = [e["name"] for e in layers]
        vtref.check(sorted(names) == sorted(expected), f"{model}: captured {names}, expected {expected}")
        vtref.check(all(e["shape"][0] == n and e["stimuli_first"] for e in layers),
                    f"{model}: a layer file is not stimuli-first with {n} rows")
        t = time.perf_counter()
        print(f"\n  {model}: {len(layers)} layers, {n} inputs; f32 run {secs['f32']:.1f} s ({cpu['f32']:.0f} s "
              f"CPU), bf16 run {secs['bf16']:.1f} s ({cpu['bf16']:.0f} s CPU); peak temporary files "
              f"{peak / 1e9:.2f} GB")
        print(f"  {'layer':<44} {'features':>9} {'max rel':>9} {'rms rel':>9} {'RSM corr':>10} {'1 - corr':>8} "
              f"{'RSM sd':>7}")
        rows = []
        for e in layers:
            a_path, b_path = os.path.join(dirs["f32"], e["file"]), os.path.join(dirs["bf16"], e["file"])
            rel_max, rel_rms, corr, spread = score_layer(a_path, b_path)
            os.remove(a_path)
            os.remove(b_path)
            feats = int(np.prod(e["shape"][1:]))
            rows.append((e["name"], rel_max, rel_rms, corr))
            print(f"  {e['name']:<44} {feats:>9} {rel_max:>9.2e} {rel_rms:>9.2e} {corr:>10.7f} {1 - corr:>8.1e} "
                  f"{spread:>7.3f}")
            vtref.check(spread > 1e-3, f"{model} {e['name']}: degenerate f32 RSM (SD {spread:.2g}): no test")
            vtref.check(corr >= 0.99, f"{model} {e['name']}: RSM correlation f32 vs bf16 {corr:.5f} < 0.99")
        vtref.check(max(r[1] for r in rows) > 1e-4, f"{model}: bf16 changed nothing (is it really on?)")
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
        os.remove(onnx_path)
        rel_max, rel_rms, corr = (np.array([r[k] for r in rows]) for k in (1, 2, 3))
        worst = rows[int(np.argmin(corr))][0]
        line = (f"{model}: {len(rows)} layers, {n} photo crops: max relative error median "
                f"{np.median(rel_max):.2e}, max {rel_max.max():.2e}; RMS-relative error median "
                f"{np.median(rel_rms):.2e}, max {rel_rms.max():.2e}; RSM correlation min {corr.min():.7f} "
                f"(1 - r = {1 - corr.min():.1e}, {worst}), median {np.median(corr):.7f} "
                f"(1 - r = {1 - np.median(corr):.1e}); runs {secs['f32']:.0f} s f32 + {secs['bf16']:.0f} s bf16 "
                f"({cpu['f32']:.0f} + {cpu['bf16']:.0f} s CPU), scoring {time.perf_counter() - t:.0f} s")
        summary.append(line)
    print()
    for line in summary:
        print("  " + line)
    cpu_all = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    print(f"  total {time.perf_counter() - t_start:.0f} s wall, {cpu_all:.0f} s CPU, load average "
          f"{os.getloadavg()[1]:.1f} (5 min)")


if __name__ == "__main__":
    main()
