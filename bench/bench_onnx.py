#!/usr/bin/python3
"""ventral run (every layer captured) vs PyTorch on the same models, inputs and thread count (not a test).

    /usr/bin/python3 bench/bench_onnx.py --ventral build/ventral [--models resnet50,vit_b_16,alexnet]
                                         [--batch 16] [--batches 3] [--threads 2] [--precision f32]
                                         [--ort DIR]   # DIR/node_modules/onnxruntime-node, from
                                                       # ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install onnxruntime-node
                                         [--output-only]

Models are torchvision's, randomly initialised (seed 0), exported once to ONNX (opset 13, symbolic batch)
into --cache. ventral runs `run --capture all --no-write` (every layer materialised in plain layout and
handed to the capture callback, nothing written), after one warm-up batch (primitive creation / JIT);
PyTorch runs eval() under no_grad plain, and with a forward hook on every module keeping each output until
the batch ends (what capturing every layer costs there), also after one warm-up batch; with --ort, onnxruntime
(bench_onnx_ort.js under node, final output only, same threads). Printed: images/s
(wall, and CPU-time based: total images / (CPU seconds / threads), robust on a shared machine but counting
ventral's warm-up batch), peak RSS, and ratios ventral / PyTorch with hooks. --output-only adds a ventral run
with `--capture none` (the like-for-like comparison with onnxruntime: intermediates stay in NHWC and Relus are
fused into the op before them) and its ratio to onnxruntime.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

TORCH_SCRIPT = r'''
import resource, sys, time, torch, torchvision, numpy as np
name, batch, batches, threads, hooks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
m = getattr(torchvision.models, name)().eval()
x = torch.from_numpy(np.load(sys.argv[6]))
kept = []
if hooks:
    for mod in m.modules():
        mod.register_forward_hook(lambda mod, i, o: kept.append(o))
with torch.no_grad():
    m(x[:batch]); kept.clear()
    t, c = time.perf_counter(), time.process_time()
    for b in range(batches):
        m(x[b * batch:(b + 1) * batch]); kept.clear()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
print(wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
'''


def export(name, path):
    code = ("import torch, torchvision; torch.manual_seed(0); m = getattr(torchvision.models, %r)().eval(); "
            "torch.onnx.export(m, torch.randn(1, 3, 224, 224), %r, opset_version=13, input_names=['input'], "
            "output_names=['logits'], dynamic_axes={'input': {0: 'b'}, 'logits': {0: 'b'}})" % (name, path))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def run_ventral(exe, model, x, batch, threads, precision, capture="all"):
    env = dict(os.environ, VENTRAL_THREADS=str(threads))
    cmd = [exe, "run", model, "--input", x, "--capture", capture, "--no-write", "--batch", str(batch), "--profile",
           "--precision", precision]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M"] + cmd, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    steady = next(float(l.split()[1]) for l in r.stderr.splitlines() if l.startswith("steady "))
    rss = next(int(l.split()[1]) for l in r.stderr.splitlines() if l.startswith("MAXRSS"))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return steady, cpu, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True)
    ap.add_argument("--models", default="resnet50,vit_b_16,alexnet")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="f32")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "ventral-bench"))
    ap.add_argument("--ort", help="folder holding node_modules/onnxruntime-node")
    ap.add_argument("--output-only", action="store_true", help="also time ventral with --capture none")
    a = ap.parse_args()
    os.makedirs(a.cache, exist_ok=True)
    n = a.batch * a.batches
    x_all = os.path.join(a.cache, f"x{n + a.batch}.npy")
    if not os.path.exists(x_all):
        np.save(x_all, np.random.default_rng(0).standard_normal((n + a.batch, 3, 224, 224)).astype(np.float32))
    print(f"batch {a.batch} x {a.batches} batches, {a.threads} threads, precision {a.precision}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'model':10} {'engine':28} {'img/s wall':>10} {'img/s cpu':>10} {'peak RSS':>10}")
    for name in a.models.split(","):
        model = os.path.join(a.cache, name + ".onnx")
        if not os.path.exists(model):
            export(name, model)
        # ventral runs one extra batch first (primitive creation, JIT); "steady" excludes it.
        steady, cpu, rss = run_ventral(a.ventral, model, x_all, a.batch, a.threads, a.precision)
        vt_wall = n / steady
        vt_cpu = (n + a.batch) / (cpu / a.threads) if cpu > 0 else float("nan")
        print(f"{name:10} {'ventral (all layers)':28} {vt_wall:10.2f} {vt_cpu:10.2f} {rss / 1024:8.0f} MB")
        if a.output_only:
            steady_o, cpu_v, rss_v = run_ventral(a.ventral, model, x_all, a.batch, a.threads, a.precision, "none")
            vo_wall, vo_cpu = n / steady_o, (n + a.batch) / (cpu_v / a.threads) if cpu_v > 0 else float("nan")
            print(f"{name:10} {'ventral (output only)':28} {vo_wall:10.2f} {vo_cpu:10.2f} {rss_v / 1024:8.0f} MB")
        res = {}
        for hooks in (0, 1):
            r = subprocess.run([sys.executable, "-c", TORCH_SCRIPT, name, str(a.batch), str(a.batches),
                                str(a.threads), str(hooks), x_all], capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr[-500:])
                continue
            wall, cpu_t, rss_t = map(float, r.stdout.split()[-3:])
            res[hooks] = (n / wall, n / (cpu_t / a.threads))
            label = "PyTorch hooks on every module" if hooks else "PyTorch plain"
            print(f"{name:10} {label:28} {n / wall:10.2f} {n / (cpu_t / a.threads):10.2f} {rss_t / 1024:8.0f} MB")
        if a.ort:
            env = dict(os.environ, NODE_PATH=os.path.join(a.ort, "node_modules"))
            r = subprocess.run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_onnx_ort.js"),
                                model, x_all, str(a.batch), str(a.batches), str(a.threads)], capture_output=True,
                               text=True, env=env)
            if r.returncode == 0:
                wall, cpu_o, rss_o = map(float, r.stdout.split()[-3:])
                res["ort"] = (n / wall, n / (cpu_o / a.threads))
                print(f"{name:10} {'onnxruntime (output only)':28} {n / wall:10.2f} {n / (cpu_o / a.threads):10.2f} "
                      f"{rss_o / 1024:8.0f} MB")
                print(f"{name:10} {'ratio ventral / onnxruntime':28} {vt_wall / res['ort'][0]:10.2f} "
                      f"{vt_cpu / res['ort'][1]:10.2f}")
                if a.output_only:
                    print(f"{name:10} {'ratio output only / ort':28} {vo_wall / res['ort'][0]:10.2f} "
                          f"{vo_cpu / res['ort'][1]:10.2f}")
            else:
                print(r.stderr[-500:])
        if 1 in res:
            print(f"{name:10} {'ratio ventral / PyTorch hooks':28} {vt_wall / res[1][0]:10.2f} {vt_cpu / res[1][1]:10.2f}")


if __name__ == "__main__":
    main()
