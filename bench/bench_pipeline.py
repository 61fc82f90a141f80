#!/usr/bin/python3
"""The full benchmark of one model (issue 8): every layer, N stimuli, S simulated subjects x V voxels,
cRSA + veRSA, done by ventral (`ventral extract` + `ventral score`) beside the same work done by a Python
pipeline in the same run; prints wall times, peak memory (maximum resident set size of each pipeline's
processes) and the ratios, and how well the two pipelines' scores agree.

Not a test. Sizes: the default is the issue's full size (1000 stimuli, 4 subjects x 10,000 voxels);
--quick is 200 stimuli, 1 subject x 2,000 voxels. Any size can be overridden (--n, --subjects, --voxels).

    /usr/bin/python3 bench/bench_pipeline.py --ventral build/ventral [--model resnet50] [--quick]
    /usr/bin/python3 bench/bench_pipeline.py --ventral build/ventral --model alexnet --quick --n 100

The data (written once per size into --workdir, reused by later runs with the same size and seed):
  - the model: torchvision NAME randomly initialised (torch.manual_seed(--seed)), exported to ONNX by
    scripts/export_models.py (opset 13, BatchNormalization folded into Conv); --trained uses the trained
    weights when they are in the torch hub cache. The PyTorch pipeline builds the same model the same way.
  - stimuli: N procedural RGB images, 256 x 256 uint8 (.npy): a grey background plus a sum of 8 smooth
    periodic random colour fields, each weighted by a per-image latent value and placed at a random
    position (circular shift), plus pixel noise; the brain responses depend on the latent values only.
    Both pipelines apply torchvision's test-time transform (Resize 256 is the identity on 256 x 256
    images, CenterCrop 224, ImageNet mean/std).
  - subjects: brain stores in the documented layout (docs/brain_store.md; written with h5py), N stimuli x
    3 repetitions x V voxels: a tanh read-out of the latent values plus Gaussian noise whose sd varies over
    voxels (0.5 to 2 x the signal sd). One ROI ('OTC') holding every voxel.

The two pipelines (same thread count for both: --threads, default 2):
  ventral: `ventral extract MODEL.onnx --stimuli images.npy --out F.h5 --eps 0.1 --batch B` (every node
    output captured, SRP on the fly) then one `ventral score --features F.h5 --brain B1.h5 --brain B2.h5 ...
    --metrics crsa,versa --split odd-even --bootstrap 0` for every subject (one pass over the layers).
  Python: PyTorch forward hooks on every leaf module (every call is a layer, as in Conwell et al.'s
    pipeline); each hooked output is flattened and projected inside the hook, batch by batch, with
    scikit-learn's SparseRandomProjection (eps 0.1 -> k = johnson_lindenstrauss_min_dim(N, 0.1), fitted once per
    layer, density 1/sqrt(p), only for p > k); then per subject and layer RidgeCV(alphas, alpha_per_target=True)
    on the train half, its predictions of the test half, leave-one-out predictions on the train half at the
    chosen alphas (numpy, the GCV formula RidgeCV uses), and numpy RSA (Pearson RSMs, Pearson of the upper
    triangles). Layer selection on the train split, score on the test split, per metric and subject.
  Split (both): odd/even positions of the stimulus order (train = even). Alphas (both): ventral's default grid,
  20 log-spaced values 1e-1..1e7. Brain RSM: Pearson over voxels of the trial-averaged responses.

Agreement: the two pipelines do not see the same layers (ONNX node outputs vs PyTorch module calls:
BatchNorm is folded into the Conv before it in ONNX; ONNX has the residual Adds, PyTorch the pre-BN convs),
and their SRP matrices differ (scikit-learn's RNG vs ventral's counter-based one), so scores differ a little
(SRP preserves distances to within eps = 10 %, RSMs of projected features agree far better than that). The
bench prints each pipeline's selected layer and test score per (subject, metric), and for the layers that
correspond by name (BN-folded Convs matched to the BN call after them), the correlation and the largest
difference of the per-layer test scores.
"""
import argparse
import csv
import io
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ALPHAS = [10 ** (-1 + 8 * i / 19) for i in range(20)]  # ventral's default grid: 20 log-spaced 1e-1..1e7
IMG = 256
REPS = 3
LATENT = 8


# ---------------------------------------------------------------------------------------------- data
def make_images(path, n, seed):
    import numpy as np
    from scipy.ndimage import gaussian_filter, zoom
    r = np.random.default_rng(seed)
    fields = []
    for k in range(LATENT):
        f = gaussian_filter(r.standard_normal((64, 64, 3)), sigma=(2 + k % 4, 2 + k % 4, 0), mode="wrap")
        f = zoom(f, (IMG / 64, IMG / 64, 1), order=1, mode="grid-wrap", grid_mode=True)  # periodic: no seams
        fields.append((f / f.std()).reshape(-1).astype(np.float32))
    fields = np.stack(fields)  # LATENT x (IMG*IMG*3)
    z = r.standard_normal((n, LATENT)).astype(np.float32)
    fields = fields.reshape(LATENT, IMG, IMG, 3)
    out = np.lib.format.open_memmap(path + ".tmp.npy", mode="w+", dtype=np.uint8, shape=(n, IMG, IMG, 3))
    for i in range(n):
        # each field at a random position (circular shift): the brain sees the latent values, not where the
        # patterns are, so pixel-aligned early layers predict it less well than pooled deeper ones
        img = np.full((IMG, IMG, 3), 128.0, np.float32)
        for k in range(LATENT):
            dy, dx = r.integers(0, IMG, 2)
            img += 28 * z[i, k] * np.roll(fields[k], (dy, dx), axis=(0, 1))
        # a nonlinear part: contrast of field 0 modulated by latent 1; pixel noise
        img += 20 * np.tanh(z[i, 1]) * np.abs(fields[0]) + 8 * r.standard_normal(img.shape).astype(np.float32)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    out.flush()
    del out
    os.replace(path + ".tmp.npy", path)
    return z


def write_subject(path, z, voxels, seed, subject):
    """A brain store (docs/brain_store.md layout), N x REPS x voxels float32."""
    import h5py
    import numpy as np
    r = np.random.default_rng(seed)
    n = z.shape[0]
    a = r.standard_normal((LATENT, voxels)) / np.sqrt(LATENT)
    b = r.standard_normal((LATENT, voxels)) / np.sqrt(LATENT)
    sig = np.tanh(z @ a) + 0.5 * (z @ b) ** 2 / LATENT
    sig = (sig - sig.mean(0)) / sig.std(0)
    noise_sd = np.exp(r.uniform(np.log(1.0), np.log(4.0), voxels))  # ncsnr 0.25..1, as in NSD's selected voxels
    tmp = path + f".tmp-{os.getpid()}"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "ventral-brain"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["created_by"] = "bench_pipeline.py"
        f.attrs["subject"] = subject
        f.attrs["source"] = "simulated"
        d = f.create_dataset("responses", shape=(n, REPS, voxels), dtype=np.float32, chunks=(1, REPS, voxels))
        for i in range(0, n, 100):
            m = min(100, n - i)
            d[i:i + m] = (sig[i:i + m, None, :] + noise_sd * r.standard_normal((m, REPS, voxels))).astype(np.float32)
        s = h5py.string_dtype()
        f.create_dataset("stimulus_ids", data=np.array([str(i) for i in range(n)], dtype=object), dtype=s)
        f.create_dataset("units/id", data=np.array([f"v{i}" for i in range(voxels)], dtype=object), dtype=s)
        f.create_dataset("units/roi", data=np.array(["OTC"] * voxels, dtype=object), dtype=s)
    os.replace(tmp, path)


def prepare(args):
    """Writes (or reuses) the model, the stimuli and the brain stores; returns their paths."""
    import numpy as np
    tag = f"v2_n{args.n}_s{args.subjects}_v{args.voxels}_seed{args.seed}"
    data = os.path.join(args.workdir, "data", tag)
    os.makedirs(data, exist_ok=True)
    images = os.path.join(data, "images.npy")
    brains = [os.path.join(data, f"subj{s + 1:02d}.h5") for s in range(args.subjects)]
    zpath = os.path.join(data, "latent.npy")
    if not (os.path.exists(images) and os.path.exists(zpath) and all(map(os.path.exists, brains))):
        t = time.perf_counter()
        z = make_images(images, args.n, args.seed)
        np.save(zpath, z)
        for s, b in enumerate(brains):
            write_subject(b, z.astype(np.float64), args.voxels, args.seed * 1000 + s + 1, f"subj{s + 1:02d}")
        print(f"data: {args.n} images, {args.subjects} subject(s) x {args.voxels} voxels x {REPS} repetitions "
              f"written to {data} in {time.perf_counter() - t:.1f} s", flush=True)
    mdir = os.path.join(args.workdir, "models")
    name = args.model if args.trained else args.model + "_random"
    onnx_path = args.onnx or os.path.join(mdir, name + ".onnx")
    if not os.path.exists(onnx_path):
        cmd = [sys.executable, os.path.join(ROOT, "scripts", "export_models.py"), "--models", name, "--out", mdir,
               "--seed", str(args.seed)] + (["--trained-only"] if args.trained else [])
        subprocess.run(cmd, check=True)
        if not os.path.exists(onnx_path):
            sys.exit(f"export of {name} failed (trained weights not in the torch hub cache?)")
    return onnx_path, images, brains


# ------------------------------------------------------------------------------------- measurement
LAST_CPU = [0.0]  # CPU seconds of the last run_timed command


def run_timed(cmd, env):
    """Runs cmd under /usr/bin/time -v (or, without it, reads the child's own rusage through wait4); returns
    (wall s, peak RSS bytes, stdout, stderr) and leaves the process's CPU seconds (user + system) in LAST_CPU[0]."""
    tfile = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vt-bench-time-{os.getpid()}.txt")
    full = ["/usr/bin/time", "-v", "-o", tfile] + cmd if os.path.exists("/usr/bin/time") else cmd
    t = time.perf_counter()
    p = subprocess.Popen(full, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if full is cmd:
        _, status, ru = os.wait4(p.pid, 0)
        out, err = p.stdout.read(), p.stderr.read()
        p.returncode = os.waitstatus_to_exitcode(status)
        peak = ru.ru_maxrss * 1024
        LAST_CPU[0] = ru.ru_utime + ru.ru_stime
    else:
        out, err = p.communicate()
        peak = 0
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{(err or '')[-3000:]}")
    if full is not cmd:
        cpu = 0.0
        for line in open(tfile):
            if "Maximum resident set size" in line:
                peak = int(line.split(":")[1]) * 1024
            if "User time (seconds)" in line or "System time (seconds)" in line:
                cpu += float(line.split(":")[1])
        LAST_CPU[0] = cpu
        os.unlink(tfile)
    return wall, peak, out, err


def thread_env(threads):
    env = dict(os.environ)
    for k in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VENTRAL_THREADS"]:
        env[k] = str(threads)
    return env


# ------------------------------------------------------------------------------------------- ventral
def run_ventral(args, onnx_path, images, brains, out):
    env = thread_env(args.threads)
    feats = os.path.join(out, "features.h5")
    db = os.path.join(out, "results.sqlite")
    for p in (feats, db):
        if os.path.exists(p):
            os.unlink(p)
    v = os.path.abspath(args.ventral)
    cmd = [v, "--threads", str(args.threads), "extract", onnx_path, "--stimuli", images, "--out", feats,
           "--eps", str(args.eps), "--batch", str(args.batch), "--transform", "torchvision", "--seed", "0"]
    print("ventral: " + " ".join(cmd[1:]), flush=True)
    t_ex, m_ex, o, e = run_timed(cmd, env)
    cpu = LAST_CPU[0]
    print(f"  extract: {t_ex:.1f} s (CPU {cpu:.1f} s), peak {m_ex / 2**30:.2f} GiB", flush=True)
    # Every subject in one call: one pass over the layers, sharing each layer's read, effective
    # dimensionality, model RSMs and ridge decomposition (the subjects saw the same stimuli).
    cmd = [v, "--threads", str(args.threads), "score", "--features", feats]
    for b in brains:
        cmd += ["--brain", b]
    cmd += ["--db", db, "--metrics", "crsa,versa", "--split", "odd-even", "--bootstrap", "0",
            "--alphas", ",".join(repr(a) for a in ALPHAS), "--model-name", os.path.basename(onnx_path)[:-5],
            "--random" if not args.trained else "--trained"]
    t_sc, m_sc, o, e = run_timed(cmd, env)
    cpu += LAST_CPU[0]
    print(f"  score {len(brains)} subject(s) in one call: {t_sc:.1f} s (CPU {LAST_CPU[0]:.1f} s), "
          f"peak {m_sc / 2**30:.2f} GiB", flush=True)
    r = subprocess.run([v, "results", "export", "--db", db, "--format", "csv"], capture_output=True, text=True,
                       check=True)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    return {"extract_s": t_ex, "score_s": t_sc, "total_s": t_ex + t_sc, "cpu_s": cpu, "peak_bytes": max(m_ex, m_sc),
            "extract_peak": m_ex, "score_peak": m_sc, "rows": rows, "features": feats}


def ventral_scores(rows):
    """{(subject, metric): {layer name: [train, test]}} and {(subject, metric): selected layer name}, from the
    results export."""
    scores, selected = {}, {}
    for r in rows:
        subj = r.get("subject", "")
        key = (subj, r["metric"])
        name = r.get("layer_name") or r.get("layer") or r["layer_index"]
        d = scores.setdefault(key, {}).setdefault(name, [None, None])
        d[0 if r["split"] == "train" else 1] = float(r["value"])
        if r["split"] == "test" and r.get("selected") in ("1", "true", "True"):
            selected[key] = name
    return scores, selected


# -------------------------------------------------------------------------------------------- Python
def python_worker(args):
    """The Python pipeline, in its own process (so its peak memory is its own). Writes JSON to args.result."""
    import numpy as np
    import torch
    import h5py
    from sklearn.linear_model import RidgeCV
    from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import export_models as em
    from torchvision import models as tvm

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.trained:
        w = tvm.get_model_weights(args.model).DEFAULT
        model = tvm.get_model(args.model, weights=w)
    else:
        torch.manual_seed(args.seed)
        model = tvm.get_model(args.model, weights=None, **em.RANDOM_KWARGS.get(args.model, {}))
    model.eval()
    images = np.load(args.images, mmap_mode="r")
    n = images.shape[0]
    k = int(johnson_lindenstrauss_min_dim(n, eps=args.eps))
    crop = 224
    off = int(round((IMG - crop) / 2.0))
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]

    layers = []  # per call slot: dict(name, type, p, srp, feats)
    state = {"slot": 0, "srp_s": 0.0, "fit_s": 0.0, "start": 0}
    calls = {}

    def hook(mod, inp, out, name=None):
        if not isinstance(out, torch.Tensor):
            return
        i = state["slot"]
        state["slot"] += 1
        x = out.detach().reshape(out.shape[0], -1).numpy()
        t = time.perf_counter()
        if i == len(layers):  # first batch: name the layer, fit its projection
            c = calls.get(name, 0)
            calls[name] = c + 1
            L = {"name": name if c == 0 else f"{name}#{c}", "type": type(mod).__name__, "p": x.shape[1], "srp": None}
            if x.shape[1] > k:
                L["srp"] = SparseRandomProjection(n_components=k, density="auto", random_state=args.seed).fit(
                    np.zeros((1, x.shape[1]), np.float32))
            L["feats"] = np.empty((n, k if L["srp"] is not None else x.shape[1]), np.float32)
            layers.append(L)
            state["fit_s"] += time.perf_counter() - t
            t = time.perf_counter()
        L = layers[i]
        s = state["start"]
        L["feats"][s:s + x.shape[0]] = L["srp"].transform(x) if L["srp"] is not None else x
        state["srp_s"] += time.perf_counter() - t

    hooks = []
    for name, mod in model.named_modules():
        if name and not list(mod.children()):
            hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name)))
    t_ext = time.perf_counter()
    with torch.no_grad():
        for s in range(0, n, args.batch):
            b = np.asarray(images[s:s + args.batch, off:off + crop, off:off + crop, :], np.float32)
            x = (b.transpose(0, 3, 1, 2) / 255.0 - mean) / std
            state["slot"], state["start"] = 0, s
            model(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
    t_ext = time.perf_counter() - t_ext
    for h in hooks:
        h.remove()
    t_srp = state["srp_s"] + state["fit_s"]
    print(f"  python: {len(layers)} layers, k = {k}; forward {t_ext - t_srp:.1f} s, SRP {t_srp:.1f} s "
          f"(of which fitting the projections {state['fit_s']:.1f} s)", flush=True)

    # ---- scoring
    tr, te = np.arange(n)[::2], np.arange(n)[1::2]

    def rsm(a):
        a = a - a.mean(1, keepdims=True)
        nrm = np.sqrt((a * a).sum(1, keepdims=True))
        nrm[nrm == 0] = 1
        a = a / nrm
        return a @ a.T

    def cmp(r1, r2):
        iu = np.triu_indices(r1.shape[0], 1)
        return float(np.corrcoef(r1[iu], r2[iu])[0, 1])

    t_ridge = t_rsa = 0.0
    results = {}
    for bpath in args.brains:
        with h5py.File(bpath, "r") as f:
            subj = f.attrs.get("subject", os.path.basename(bpath))
            subj = subj.decode() if isinstance(subj, bytes) else str(subj)
            y = np.nanmean(f["responses"][()].astype(np.float64), axis=1)
        t = time.perf_counter()
        btr, bte = rsm(y[tr]), rsm(y[te])
        t_rsa += time.perf_counter() - t
        per = {"crsa": {}, "versa": {}}
        for L in layers:
            x = L["feats"].astype(np.float64)
            t = time.perf_counter()
            per["crsa"][L["name"]] = (cmp(rsm(x[tr]), btr), cmp(rsm(x[te]), bte))
            t_rsa += time.perf_counter() - t
            t = time.perf_counter()
            xtr, ytr = x[tr], y[tr]
            ridge = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(xtr, ytr)
            pred = ridge.predict(x[te])
            # leave-one-out predictions at the chosen alphas: RidgeCV's GCV formula (kernel form, intercept
            # unpenalised: the constant eigenvector gets weight 0)
            xc = xtr - xtr.mean(0)
            yc = ytr - ytr.mean(0)
            lam, q = np.linalg.eigh(xc @ xc.T + np.ones((len(tr), len(tr))))
            const = np.argmax(np.abs(q.sum(0)))
            qty = q.T @ yc
            loo = np.empty_like(ytr)
            chosen = np.asarray(ridge.alpha_)
            for a in np.unique(chosen):
                cols = chosen == a
                wv = 1.0 / (lam + a)
                wv[const] = 0
                c = q @ (wv[:, None] * qty[:, cols])
                d = (q ** 2) @ wv
                loo[:, cols] = ytr[:, cols] - c / d[:, None]
            t_ridge += time.perf_counter() - t
            t = time.perf_counter()
            per["versa"][L["name"]] = (cmp(rsm(loo), btr), cmp(rsm(pred), bte))
            t_rsa += time.perf_counter() - t
        results[subj] = per
        print(f"  python: scored {subj} (ridge {t_ridge:.1f} s, RSA {t_rsa:.1f} s so far)", flush=True)
    order = []
    for L in layers:
        order.append({"name": L["name"], "type": L["type"], "p": L["p"]})
    json.dump({"extract_forward_s": t_ext - t_srp, "srp_s": t_srp, "srp_fit_s": state["fit_s"], "ridge_s": t_ridge,
               "rsa_s": t_rsa, "k": k, "layers": order, "scores": results,
               "worker_s": time.perf_counter() - t0}, open(args.result, "w"))


def run_python(args, images, brains, out):
    result = os.path.join(out, "python.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--result", result, "--images", images,
           "--model", args.model, "--threads", str(args.threads), "--batch", str(args.batch), "--eps",
           str(args.eps), "--seed", str(args.seed)] + (["--trained"] if args.trained else []) + ["--brains"] + brains
    print("python: PyTorch hooks + SparseRandomProjection + RidgeCV + numpy RSA", flush=True)
    wall, peak, o, e = run_timed(cmd, thread_env(args.threads))
    sys.stdout.write(o)
    r = json.load(open(result))
    r["total_s"] = wall
    r["cpu_s"] = LAST_CPU[0]
    r["peak_bytes"] = peak
    return r


# ------------------------------------------------------------------------------------------ agreement
def onnx_to_module(name):
    """'/layer2/layer2.0/downsample/downsample.0/Conv' -> ('layer2.0.downsample.0', 'Conv', call index)."""
    parts = [p for p in name.split("/") if p]
    if len(parts) < 2:
        return None, None, 0
    op = parts[-1]
    path = []
    for seg in parts[:-1]:
        if path and seg.startswith(path[-1] + "."):
            path[-1] = seg
        else:
            path.append(seg)
    call = 0
    last = path[-1] if path else ""
    base, _, suffix = last.rpartition("_")
    if base and suffix.isdigit():
        path[-1], call = base, int(suffix)
    return ".".join(path), op, call


def match_layers(ventral_names, py_layers):
    """Maps ONNX layer names to PyTorch hook layer names where they correspond."""
    py_names = [L["name"] for L in py_layers]
    index = {n: i for i, n in enumerate(py_names)}
    out = {}
    for vn in ventral_names:
        mod, op, call = onnx_to_module(vn)
        if mod is None:
            continue
        pn = mod if call == 0 else f"{mod}#{call}"
        if pn not in index:
            continue
        i = index[pn]
        # a Conv with BatchNorm folded in: its output is the BN call that follows it
        if op == "Conv" and i + 1 < len(py_layers) and py_layers[i + 1]["type"].startswith("BatchNorm"):
            pn = py_names[i + 1]
        out[vn] = pn
    return out


def agreement(vres, pres):
    import numpy as np
    vs, vsel = ventral_scores(vres["rows"])
    lines = []
    diffs = []
    sel_scores = {"ventral": {}, "python": {}}
    subjects_v = sorted({k[0] for k in vs})
    subjects_p = sorted(pres["scores"])
    vnames = sorted({n for d in vs.values() for n in d})
    mapping = match_layers(vnames, pres["layers"])
    for sv, sp in zip(subjects_v, subjects_p):
        for metric in ("crsa", "versa"):
            v = vs.get((sv, metric), {})
            p = pres["scores"][sp][metric]
            if not v:
                continue
            vname = vsel.get((sv, metric)) or max(v, key=lambda n: v[n][0])
            pname = max(p, key=lambda n: p[n][0])
            sel_scores["ventral"].setdefault(metric, []).append(v[vname][1])
            sel_scores["python"].setdefault(metric, []).append(p[pname][1])
            common = [(v[a][1], p[b][1]) for a, b in mapping.items() if a in v and b in p]
            cc = np.array(common) if common else np.zeros((0, 2))
            r = float(np.corrcoef(cc[:, 0], cc[:, 1])[0, 1]) if len(cc) > 2 else float("nan")
            md = float(np.abs(cc[:, 0] - cc[:, 1]).max()) if len(cc) else float("nan")
            diffs.append(abs(v[vname][1] - p[pname][1]))
            lines.append(f"  {sv} {metric:5s}  ventral: {vname} test {v[vname][1]:.4f} (train {v[vname][0]:.4f})\n"
                         f"  {'':{len(sv)}} {'':5s}  python:  {pname} test {p[pname][1]:.4f} "
                         f"(train {p[pname][0]:.4f})   |diff| {abs(v[vname][1] - p[pname][1]):.4f}\n"
                         f"  {'':{len(sv)}} {'':5s}  {len(cc)} corresponding layers: test-score correlation "
                         f"{r:.4f}, max |diff| {md:.4f}")
    return lines, sel_scores, len(mapping)


# ----------------------------------------------------------------------------------------------- main
def gib(b):
    return b / 2**30


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ventral", default=os.path.join(ROOT, "build", "ventral"))
    ap.add_argument("--model", default="resnet50", help="torchvision model name (default resnet50)")
    ap.add_argument("--onnx", help="use this ONNX file instead of exporting --model (must be the same weights)")
    ap.add_argument("--trained", action="store_true", help="trained weights from the torch hub cache")
    ap.add_argument("--quick", action="store_true", help="200 stimuli, 1 subject x 2,000 voxels")
    ap.add_argument("--n", type=int, help="stimuli (default 1000; --quick 200)")
    ap.add_argument("--subjects", type=int, help="subjects (default 4; --quick 1)")
    ap.add_argument("--voxels", type=int, help="voxels per subject (default 10000; --quick 2000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "ventral-bench-pipeline"))
    ap.add_argument("--only", choices=["ventral", "python"], help="run one pipeline only")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--images", help=argparse.SUPPRESS)
    ap.add_argument("--brains", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return python_worker(args)
    q = args.quick
    args.n = args.n or (200 if q else 1000)
    args.subjects = args.subjects or (1 if q else 4)
    args.voxels = args.voxels or (2000 if q else 10000)
    if not args.only == "python" and not os.path.exists(args.ventral):
        sys.exit(f"no ventral binary at {args.ventral} (--ventral PATH)")
    os.makedirs(args.workdir, exist_ok=True)
    print(f"bench_pipeline: {args.model} ({'trained' if args.trained else 'random init'}), {args.n} stimuli, "
          f"{args.subjects} subject(s) x {args.voxels} voxels x {REPS} reps, cRSA + veRSA, eps {args.eps}, "
          f"batch {args.batch}, {args.threads} threads; {platform.node()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f}", flush=True)
    onnx_path, images, brains = prepare(args)
    out = os.path.join(args.workdir, "run")
    os.makedirs(out, exist_ok=True)
    vres = pres = None
    if args.only != "python":
        vres = run_ventral(args, onnx_path, images, brains, out)
    if args.only != "ventral":
        pres = run_python(args, images, brains, out)

    load = os.getloadavg()
    print(f"\n== results == (load average now {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} over 1/5/15 min: "
          f"wall times grow with other work on the machine, CPU times much less)")
    if vres:
        n_layers = len({r.get("layer_name") or r["layer_index"] for r in vres["rows"]})
        print(f"ventral: {vres['total_s']:8.1f} s  CPU {vres['cpu_s']:8.1f} s  "
              f"peak {gib(vres['peak_bytes']):6.2f} GiB   "
              f"(extract {vres['extract_s']:.1f} s / {gib(vres['extract_peak']):.2f} GiB, "
              f"score {vres['score_s']:.1f} s / {gib(vres['score_peak']):.2f} GiB; {n_layers} layers)")
    if pres:
        print(f"python:  {pres['total_s']:8.1f} s  CPU {pres['cpu_s']:8.1f} s  "
              f"peak {gib(pres['peak_bytes']):6.2f} GiB   "
              f"(forward+hooks {pres['extract_forward_s']:.1f} s, SRP {pres['srp_s']:.1f} s, "
              f"ridge {pres['ridge_s']:.1f} s, RSA {pres['rsa_s']:.1f} s; {len(pres['layers'])} layers, "
              f"k {pres['k']})")
    summary = {"model": args.model, "n": args.n, "subjects": args.subjects, "voxels": args.voxels,
               "threads": args.threads, "batch": args.batch, "host": platform.node(), "cores": os.cpu_count(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if vres and pres:
        print(f"ratio (python / ventral): wall time {pres['total_s'] / vres['total_s']:.1f}x, "
              f"CPU time {pres['cpu_s'] / max(vres['cpu_s'], 1e-9):.1f}x, "
              f"peak memory {pres['peak_bytes'] / max(vres['peak_bytes'], 1):.1f}x")
        lines, sel, nmatch = agreement(vres, pres)
        print("\nselected layers (chosen on the train split) and their test scores; the pipelines' layer sets and "
              "SRP matrices differ, so scores differ a little:")
        print("\n".join(lines))
        for metric in ("crsa", "versa"):
            if metric in sel["ventral"]:
                a, b = sel["ventral"][metric], sel["python"][metric]
                print(f"  mean over subjects, {metric}: ventral {sum(a) / len(a):.4f}, python {sum(b) / len(b):.4f}, "
                      f"|diff| {abs(sum(a) / len(a) - sum(b) / len(b)):.4f}")
        summary.update(ventral={k: v for k, v in vres.items() if k not in ("rows", "features")},
                       python={k: v for k, v in pres.items() if k not in ("scores", "layers")},
                       matched_layers=nmatch, selected=sel,
                       time_ratio=pres["total_s"] / vres["total_s"],
                       memory_ratio=pres["peak_bytes"] / max(vres["peak_bytes"], 1))
    if args.json:
        json.dump(summary, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
