"""Agreement with PyTorch: randomly initialised torchvision models (export_models.py, generated here
in a temporary folder) run through `ventral run --capture all`; every leaf module's output (an extra
graph output "tap:<module>") and the logits must match PyTorch within 1e-4 relative to the tensor's
largest magnitude (max |ventral - torch| / max |torch|). Also checks that the layer files are
bit-identical for batch sizes 1 and 2 and for 1 and 2 threads, and that each tap is also captured as
a layer.

VENTRAL_TORCH_MODELS=resnet18,vit limits the models (default: all that export_models.py lists).
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

import vtref

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4


def load_manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def main():
    args = vtref.parse_args()
    v = vtref.Ventral(args.ventral)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch not available: skipped")
        return
    listing = subprocess.run([sys.executable, os.path.join(HERE, "export_models.py"), "--list"], capture_output=True,
                             text=True, check=True)
    models = list(json.loads(listing.stdout))
    if os.environ.get("VENTRAL_TORCH_MODELS"):
        models = os.environ["VENTRAL_TORCH_MODELS"].split(",")
    fix = v.path("fixtures")
    t0 = time.time()
    r = subprocess.run([sys.executable, os.path.join(HERE, "export_models.py"), "--out", fix, "--models",
                        ",".join(models)], capture_output=True, text=True)
    vtref.check(r.returncode == 0, f"export_models.py failed: {r.stderr[-2000:]}")
    if r.returncode != 0:
        return
    print(f"exported {len(models)} models in {time.time() - t0:.1f} s")
    summary = []
    for m in models:
        model = os.path.join(fix, m + ".onnx")
        x = os.path.join(fix, m + "_input.npy")
        ref = np.load(os.path.join(fix, m + "_ref.npz"))
        out = v.path("out_" + m)
        t0 = time.time()
        res = v.run("run", model, "--input", x, "--out", out, "--capture", "all", "--batch", "2")
        dt = time.time() - t0
        if res.returncode != 0:
            summary.append((m, "FAILED to run", res.stderr.strip()[:300]))
            continue
        man = load_manifest(out)
        outputs = {e["name"]: e for e in man if e["kind"] == "output"}
        layers = [e for e in man if e["kind"] == "layer"]
        layer_outputs = {e["output"] for e in layers}
        worst, worst_name, n = 0.0, "", 0
        for name in ref.files:
            if name not in outputs:
                vtref.check(False, f"{m}: output {name} missing from the manifest")
                continue
            got = np.load(os.path.join(out, outputs[name]["file"]))
            want = ref[name]
            if got.shape != want.shape:
                vtref.check(False, f"{m}: {name}: shape {got.shape} != torch {want.shape}")
                continue
            scale = float(np.abs(want).max()) or 1.0
            err = float(np.abs(got.astype(np.float64) - want).max()) / scale
            n += 1
            if err > worst:
                worst, worst_name = err, name
            vtref.check(err <= TOL, f"{m}: {name}: relative error {err:.3g} > {TOL}")
            vtref.check(name in layer_outputs or name == "logits" or any(
                e["output"] == name for e in layers), f"{m}: {name} is not captured as a layer")
        # The untapped model, capturing nothing: the logits must agree too.
        plain_errs = []
        for spec in ("none",):
            d = v.path(f"plain_{m}_{spec.replace(':', '_')}")
            pr = v.run("run", os.path.join(fix, m + "_plain.onnx"), "--input", x, "--out", d, "--capture", spec,
                       "--batch", "2")
            if pr.returncode != 0:
                continue
            pm = load_manifest(d)
            got = np.load(os.path.join(d, [e for e in pm if e["kind"] == "output"][0]["file"]))
            err = float(np.abs(got.astype(np.float64) - ref["logits"]).max()) / (float(np.abs(ref["logits"]).max()) or 1)
            plain_errs.append(err)
            vtref.check(err <= TOL, f"{m}: untapped model, --capture {spec}: logits error {err:.3g}")
        print(f"  {m}: {n} tensors (leaf modules + logits), {len(layers)} layers captured, "
              f"max relative error {worst:.3g} ({worst_name}), run {dt:.2f} s; untapped logits "
              f"{max(plain_errs) if plain_errs else float('nan'):.3g}")
        summary.append((m, n, worst))

    # Determinism: batch size and thread count must not change a single bit.
    for m in [m for m in ("resnet18", "vit") if m in models] or models[:1]:
        check_determinism(v, fix, m)
    if "resnet18" in models:
        check_winograd(v, fix, "resnet18")
    # ReLU and Clip (ReLU6) fusion: the same bits with and without it.
    for m in [m for m in ("resnet18", "alexnet", "vgg11", "squeezenet", "googlenet") if m in models]:
        check_fusion(v, fix, m)
    if "mobilenet_v2" in models:
        check_fusion(v, fix, "mobilenet_v2", "Clip")  # BatchNormalization + Clip
        check_fusion(v, fix, "mobilenet_v2", "Clip", "_folded")  # Conv + Clip (oneDNN post-op)


def check_winograd(v, fix, m):
    """--precision f32-winograd: every tap still within 1e-4 of PyTorch; on an AVX-512 CPU (where oneDNN has
    the Winograd kernel) the 3x3 convolutions' outputs must differ from the direct run's bits."""
    model, x = os.path.join(fix, m + ".onnx"), os.path.join(fix, m + "_input.npy")
    ref = np.load(os.path.join(fix, m + "_ref.npz"))
    dirs = {}
    for prec in ("f32", "f32-winograd"):
        d = v.path(f"wino_{m}_{prec}")
        r = v.run("run", model, "--input", x, "--out", d, "--capture", "op:Conv", "--batch", "2", "--precision", prec)
        if r.returncode != 0:
            return
        dirs[prec] = d
    outs = {e["name"]: e for e in load_manifest(dirs["f32-winograd"]) if e["kind"] == "output"}
    worst = max(float(np.abs(np.load(os.path.join(dirs["f32-winograd"], outs[k]["file"])).astype(np.float64) - ref[k]).max())
                / (float(np.abs(ref[k]).max()) or 1.0) for k in ref.files if k in outs)
    man = {e["name"]: e for e in load_manifest(dirs["f32"]) if e["kind"] == "layer"}
    changed = sum(np.load(os.path.join(dirs["f32"], man[e["name"]]["file"])).tobytes() !=
                  np.load(os.path.join(dirs["f32-winograd"], e["file"])).tobytes()
                  for e in load_manifest(dirs["f32-winograd"]) if e["kind"] == "layer")
    avx512 = "avx512f" in open("/proc/cpuinfo").read()
    print(f"  f32-winograd ({m}): max relative error vs PyTorch {worst:.3g}; {changed} of {len(man)} Conv layers "
          f"differ from the direct run{'' if avx512 else ' (no AVX-512: Winograd not expected)'}")
    vtref.check(worst <= TOL, f"{m}: f32-winograd error {worst:.3g} > {TOL}")
    if avx512:
        vtref.check(changed > 0, f"{m}: f32-winograd changed no convolution (Winograd not used?)")


def check_fusion(v, fix, m, op="Relu", variant="_plain"):
    """Capturing only the Relu (or Clip) outputs leaves the Conv/Gemm outputs before them unobserved, so
    ventral fuses each such activation into its producer (a oneDNN post-op). Every file (the captured
    activation layers and the logits) must be bit-identical to a run with VENTRAL_NN_NO_FUSION=1, and the
    profile must report fused activations in the first run only. variant "_folded": the model exported
    with BatchNorm folded, whose logits must also match PyTorch's."""
    model, x = os.path.join(fix, m + variant + ".onnx"), os.path.join(fix, m + "_input.npy")
    dirs, relu_fused = {}, {}
    for tag, env in (("fused", {}), ("unfused", {"VENTRAL_NN_NO_FUSION": "1"})):
        d = v.path(f"fusion_{m}{variant}_{tag}")
        r = v.run("run", model, "--input", x, "--out", d, "--capture", "op:" + op, "--batch", "2", "--profile",
                  env=env)
        vtref.check(r.returncode == 0, f"{m}: --capture op:{op} ({tag}) failed: {r.stderr[-300:]}")
        if r.returncode != 0:
            return
        dirs[tag] = d
        row = [line for line in r.stderr.splitlines() if line.startswith(op + " ")]
        relu_fused[tag] = int(row[0].split("(")[1].split()[0]) if row and "fused" in row[0] else 0
    man = load_manifest(dirs["fused"])
    diff = [e["name"] for e in man
            if np.load(os.path.join(dirs["fused"], e["file"])).tobytes() !=
            np.load(os.path.join(dirs["unfused"], e["file"])).tobytes()]
    n_relu = sum(e["kind"] == "layer" for e in man)
    if variant == "_folded":
        ref = np.load(os.path.join(fix, m + "_ref.npz"))["logits"]
        got = np.load(os.path.join(dirs["fused"], [e for e in man if e["kind"] == "output"][0]["file"]))
        err = float(np.abs(got.astype(np.float64) - ref).max()) / (float(np.abs(ref).max()) or 1.0)
        vtref.check(err <= TOL, f"{m}{variant}: logits error {err:.3g} > {TOL}")
    print(f"  fusion ({m}{variant}): {n_relu} {op} layers + logits, {len(diff)} differ from the unfused run; "
          f"{relu_fused['fused']} fused")
    vtref.check(n_relu > 0, f"{m}: no {op} layer captured")
    vtref.check(relu_fused["fused"] > 0 and relu_fused["unfused"] == 0,
                f"{m}: expected fused {op}s only without VENTRAL_NN_NO_FUSION, got {relu_fused}")
    vtref.check(not diff, f"{m}: {op} fusion changed {diff[:5]}")


def check_determinism(v, fix, m):
    model, x = os.path.join(fix, m + ".onnx"), os.path.join(fix, m + "_input.npy")
    runs = {}
    for tag, extra, env in [("b2t2", ["--batch", "2"], {"VENTRAL_THREADS": "2"}),
                            ("b1t2", ["--batch", "1"], {"VENTRAL_THREADS": "2"}),
                            ("b2t1", ["--batch", "2"], {"VENTRAL_THREADS": "1"})]:
        d = v.path("det_" + tag)
        v.run("run", model, "--input", x, "--out", d, "--capture", "all", *extra, env=env)
        runs[tag] = d
    man = load_manifest(runs["b2t2"])
    diff, skipped = [], 0
    for e in man:
        a = np.load(os.path.join(runs["b2t2"], e["file"]))
        for tag in ("b1t2", "b2t1"):
            b = np.load(os.path.join(runs[tag], e["file"]))
            n = np.load(x, mmap_mode="r").shape[0]
            if tag == "b1t2" and (a.shape[0] != n or b.shape[0] != n):
                skipped += 1  # first dim is not the batch (e.g. sequence-first attention): files differ by design
            elif a.shape != b.shape or a.tobytes() != b.tobytes():
                diff.append(f"{e['name']} ({tag})")
    print(f"  determinism ({m}): {len(man)} files compared across batch 1/2 and threads 1/2 "
          f"({skipped} not batch-major), {len(diff)} differ{': ' + ', '.join(diff[:5]) if diff else ''}")
    vtref.check(not diff, f"{m}: outputs depend on batch size or thread count: {diff[:5]}")
    # The NHWC path (nothing captured): logits bit-identical across batch sizes and threads too.
    logits = []
    for batch, threads in (("2", "2"), ("1", "2"), ("2", "1")):
        d = v.path(f"detplain_{m}_{batch}_{threads}")
        v.run("run", os.path.join(fix, m + "_plain.onnx"), "--input", x, "--out", d, "--capture", "none", "--batch",
              batch, env={"VENTRAL_THREADS": threads})
        pm = load_manifest(d)
        logits.append(np.load(os.path.join(d, pm[0]["file"])).tobytes())
    same = all(b == logits[0] for b in logits)
    print(f"  determinism ({m}, nothing captured): logits {'bit-identical' if same else 'DIFFER'}")
    vtref.check(same, f"{m}: untapped logits depend on batch size or thread count")


if __name__ == "__main__":
    main()
