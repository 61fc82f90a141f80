#!/usr/bin/python3
"""Exports torchvision (and timm, where installed) classification models to ONNX for `ventral bench`.

For every model it writes OUT/NAME.onnx and an entry in OUT/models.yaml (a fragment of a `ventral bench`
configuration: name, path, family, task, training_data, trained, top1, params, transform).

  /usr/bin/python3 scripts/export_models.py --models squeezenet1_1,resnet18_random --out models/
  /usr/bin/python3 scripts/export_models.py --list scripts/models_conwell2024.txt --out models/ [--download]

Weights: trained weights are used when they are already in the torch hub cache
(`$TORCH_HOME/hub/checkpoints`, by default ~/.cache/torch/hub/checkpoints); nothing is downloaded unless
--download is given. Every model is also exported randomly initialised (torch.manual_seed(--seed) just before
construction; name suffix `_random`). A model asked for without weights available is exported random only,
with a note. Names: `resnet18` = trained (when available) + random; `resnet18_random` = random only;
`timm:vit_base_patch16_224` = a timm model (only when timm is installed).

Each ONNX file: opset 13 by default (--opset), input `image` (batch x 3 x S x S, S = the transform's crop:
224, or 299 for inception), output `logits`, a dynamic batch axis, exported in eval mode with
do_constant_folding=True (BatchNormalization folded into the preceding convolution; --keep-batchnorm keeps
BN as a node of its own so its output is a capturable layer, as PyTorch forward hooks see it). The model's
metadata is also written into the ONNX file's metadata_props. Files are written to a temporary name and
renamed; existing files are skipped unless --force, so an interrupted export of a long list resumes.

transform: the ventral preset of the weights' test-time transform: `inception` when the crop is 299,
`torchvision` (Resize 256, CenterCrop 224, bilinear) otherwise, `clip` for CLIP towers. Some torchvision
weights evaluate at another resize/interpolation (e.g. resnet50 IMAGENET1K_V2: Resize 232; efficientnet_b7:
600 bicubic): the exact transform of the weights is recorded as a comment in models.yaml and in the ONNX
metadata (`transform_exact`); the exported graph takes the preset's crop size. Random models use the
transform of their trained counterpart (METHODS §1).

--verify VENTRAL runs each exported model through `VENTRAL run` on random inputs and compares the logits
with PyTorch's (max |diff| / max |ref|).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
import torchvision
from torchvision import models as tvm

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))

# torchvision model name prefix -> architecture family
FAMILIES = [
    ("vit_", "transformer"), ("swin", "transformer"), ("maxvit", "hybrid"),
    ("alexnet", "cnn"), ("vgg", "cnn"), ("resnet", "cnn"), ("resnext", "cnn"), ("wide_resnet", "cnn"),
    ("densenet", "cnn"), ("squeezenet", "cnn"), ("googlenet", "cnn"), ("inception", "cnn"), ("mobilenet", "cnn"),
    ("mnasnet", "cnn"), ("shufflenet", "cnn"), ("efficientnet", "cnn"), ("regnet", "cnn"), ("convnext", "cnn"),
]
# Constructor arguments of the random variants, matching the architecture of the trained one.
RANDOM_KWARGS = {
    "googlenet": dict(aux_logits=False, init_weights=True),
    "inception_v3": dict(aux_logits=False, init_weights=True),
}


def family_of(name):
    for prefix, fam in FAMILIES:
        if name.startswith(prefix):
            return fam
    return "cnn"


def hub_cache_dir():
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def cached_path(weights):
    return os.path.join(hub_cache_dir(), os.path.basename(weights.url))


def training_data_of(weights):
    n = weights.name
    if "SWAG" in n:
        return "ig3.6b-swag+imagenet1k" if "E2E" in n else "ig3.6b-swag (linear probe on imagenet1k)"
    if "IMAGENET22K" in n:
        return "imagenet22k+imagenet1k"
    return "imagenet1k"


def preset_of(crop):
    return "inception" if crop == 299 else "torchvision"


def exact_transform(weights):
    t = weights.transforms()
    return {"resize": int(t.resize_size[0]), "crop": int(t.crop_size[0]),
            "interpolation": str(t.interpolation.value), "mean": list(t.mean), "std": list(t.std)}


class Spec:
    """One model to export."""

    def __init__(self, name, trained, source="torchvision"):
        self.base = name
        self.trained = trained
        self.source = source
        self.name = (name.replace("/", "_") if source == "torchvision" else "timm_" + name.replace("/", "_")) + (
            "" if trained else "_random")


def torchvision_spec(spec, args):
    """Returns (model, meta) or None (trained weights not available: a note is printed)."""
    name = spec.base
    try:
        enum = tvm.get_model_weights(name)
    except Exception:
        enum = None
    weights = None
    if enum is not None:
        try:
            weights = enum[args.weights] if args.weights != "DEFAULT" else enum.DEFAULT
        except KeyError:
            weights = enum.DEFAULT
    meta = {"family": family_of(name), "task": "classification", "source": f"torchvision {torchvision.__version__}"}
    if weights is not None:
        ex = exact_transform(weights)
        meta["transform_exact"] = ex
        meta["transform"] = preset_of(ex["crop"])
    else:
        meta["transform_exact"] = None
        meta["transform"] = "torchvision"
    if spec.trained:
        if weights is None:
            print(f"note: torchvision has no pretrained weights for {name}: exporting {name}_random only",
                  file=sys.stderr)
            return None
        # Prefer the requested weights; otherwise any weights of this model already in the cache.
        cands = [weights] + [w for w in enum if w != weights]
        chosen = next((w for w in cands if os.path.exists(cached_path(w))), None)
        if chosen is None and args.download:
            chosen = weights
        if chosen is None:
            print(f"note: no cached weights for {name} (expected {cached_path(weights)}; --download fetches them): "
                  f"exporting {name}_random only", file=sys.stderr)
            return None
        model = tvm.get_model(name, weights=chosen)  # reads the cached file; downloads only when absent
        ex = exact_transform(chosen)
        meta.update(trained=True, weights=chosen.name, top1=chosen.meta["_metrics"]["ImageNet-1K"]["acc@1"],
                    training_data=training_data_of(chosen), transform_exact=ex, transform=preset_of(ex["crop"]))
    else:
        torch.manual_seed(args.seed)
        model = tvm.get_model(name, weights=None, **RANDOM_KWARGS.get(name, {}))
        meta.update(trained=False, weights="random", top1=None, training_data="none",
                    init_seed=args.seed)
    return model, meta


def timm_spec(spec, args):
    try:
        import timm
    except ImportError:
        print(f"note: timm is not installed: skipping timm:{spec.base}", file=sys.stderr)
        return None
    name = spec.base
    fam = "transformer" if any(k in name for k in ("vit", "deit", "swin", "beit", "clip", "eva")) else (
        "mlp" if any(k in name for k in ("mixer", "resmlp", "gmlp")) else "cnn")
    if spec.trained:
        try:
            model = timm.create_model(name, pretrained=True) if args.download else None
        except Exception as e:  # no network or no weights
            print(f"note: timm weights for {name} unavailable ({e}): exporting random only", file=sys.stderr)
            return None
        if model is None:
            # timm reads the hub cache too; without --download we only try offline.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                model = timm.create_model(name, pretrained=True)
            except Exception:
                print(f"note: no cached timm weights for {name} (--download fetches them): exporting random only",
                      file=sys.stderr)
                return None
    else:
        torch.manual_seed(args.seed)
        model = timm.create_model(name, pretrained=False)
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", {}) or {}
    crop = int(cfg.get("input_size", (3, 224, 224))[-1])
    mean = tuple(round(float(m), 4) for m in cfg.get("mean", (0.485, 0.456, 0.406)))
    preset = "clip" if mean == (0.4815, 0.4578, 0.4082) else preset_of(crop)
    meta = {"family": fam, "task": "clip" if "clip" in name else "classification",
            "source": f"timm {timm.__version__}", "trained": spec.trained,
            "weights": cfg.get("tag", "pretrained") if spec.trained else "random",
            "top1": None, "training_data": cfg.get("dataset", "unknown") if spec.trained else "none",
            "transform": preset,
            "transform_exact": {"resize": int(round(crop / cfg.get("crop_pct", 0.875))), "crop": crop,
                                "interpolation": cfg.get("interpolation", "bicubic"),
                                "mean": list(cfg.get("mean", ())), "std": list(cfg.get("std", ()))}}
    if not spec.trained:
        meta["init_seed"] = args.seed
    return model, meta


def input_size(meta):
    return 299 if meta["transform"] == "inception" else 224


def export_one(spec, args):
    """Exports one model; returns its models.yaml entry (dict) or None."""
    final = os.path.join(args.out, spec.name + ".onnx")
    got = (timm_spec if spec.source == "timm" else torchvision_spec)(spec, args)
    if got is None:
        return None
    model, meta = got
    model.eval()
    meta["params"] = int(sum(p.numel() for p in model.parameters()))
    meta["opset"] = args.opset
    meta["name"] = spec.name
    meta["path"] = os.path.relpath(final, os.path.dirname(os.path.abspath(args.yaml)))
    size = input_size(meta)
    if os.path.exists(final) and not args.force:
        print(f"{spec.name}: {final} exists (skipped; --force re-exports)", file=sys.stderr)
        return meta
    tmpdir = tempfile.mkdtemp(prefix=f".tmp-{spec.name}-", dir=args.out)
    try:
        tmp = os.path.join(tmpdir, spec.name + ".onnx")
        x = torch.zeros(1, 3, size, size)
        mode = torch.onnx.TrainingMode.PRESERVE if args.keep_batchnorm else torch.onnx.TrainingMode.EVAL
        # Grad mode stays on: under no_grad nn.MultiheadAttention (ViT) takes a fused path with no ONNX export.
        torch.onnx.export(model, x, tmp, opset_version=args.opset, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True,
                          training=mode)
        import onnx
        m = onnx.load(tmp, load_external_data=False)
        props = {"ventral.name": spec.name, "ventral.family": meta["family"], "ventral.task": meta["task"],
                 "ventral.training_data": meta["training_data"], "ventral.trained": str(meta["trained"]).lower(),
                 "ventral.weights": str(meta["weights"]), "ventral.transform": meta["transform"],
                 "ventral.transform_exact": repr(meta["transform_exact"]), "ventral.params": str(meta["params"]),
                 "ventral.source": meta["source"]}
        if meta.get("top1") is not None:
            props["ventral.top1"] = str(meta["top1"])
        del m.metadata_props[:]
        for k, v in props.items():
            e = m.metadata_props.add()
            e.key, e.value = k, v
        files = os.listdir(tmpdir)
        if len(files) == 1:
            onnx.save(m, tmp)
        else:  # > 2 GiB: torch wrote one file per tensor; gather them into NAME.onnx.data
            m = onnx.load(tmp)
            onnx.save_model(m, tmp + ".new", save_as_external_data=True, all_tensors_to_one_file=True,
                            location=spec.name + ".onnx.data")
            os.replace(os.path.join(tmpdir, spec.name + ".onnx.data"), final + ".data")
            os.replace(tmp + ".new", tmp)
        if args.verify:
            verify(model, tmp, size, args.verify, spec.name)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    mb = os.path.getsize(final) / 2**20
    print(f"{spec.name}: {final} ({mb:.1f} MB, {meta['params']:,} params, {meta['transform']}, "
          f"{'trained ' + meta['weights'] if meta['trained'] else 'random'})", file=sys.stderr)
    return meta


def verify(model, path, size, ventral, name):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, size, size, generator=g)
    with torch.no_grad():
        ref = model(x).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), x.numpy())
        r = subprocess.run([ventral, "run", path, "--input", os.path.join(tmp, "x.npy"), "--capture", "none",
                            "--out", os.path.join(tmp, "o")], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"verify {name}: ventral run failed: {r.stderr.strip()}", file=sys.stderr)
            return
        import json
        man = json.load(open(os.path.join(tmp, "o", "manifest.json")))
        out = [e for e in man if e.get("kind") == "output"]
        got = np.load(os.path.join(tmp, "o", out[0]["file"]))
    if np.abs(ref).max() == 0:  # e.g. torchvision's ViT zero-initialises its head: logits say nothing
        print(f"verify {name}: PyTorch's logits are all zero (zero-initialised classifier head); ventral's max "
              f"|logit| = {np.abs(got).max():.2e}: the check is not informative for this model", file=sys.stderr)
        return
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    print(f"verify {name}: logits max|diff|/max|ref| = {err:.2e} ({'ok' if err <= 1e-4 else 'EXCEEDS 1e-4'})",
          file=sys.stderr)


def read_list(path):
    names = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def specs_for(names, args):
    out = []
    for n in names:
        source = "torchvision"
        if n.startswith("timm:"):
            source, n = "timm", n[5:]
        if n.endswith("_random"):
            out.append(Spec(n[:-7], False, source))
            continue
        if not args.random_only:
            out.append(Spec(n, True, source))
        if not args.trained_only:
            out.append(Spec(n, False, source))
    return out


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if s == "" or any(c in s for c in ":#{}[],&*!|>'\"%@`") or s.strip() != s:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


FIELDS = ["name", "path", "family", "task", "training_data", "trained", "top1", "params", "transform"]


def write_yaml(path, entries):
    lines = ["# Models exported by scripts/export_models.py (a fragment of a `ventral bench` configuration).",
             "# top1: torchvision's documented ImageNet-1K acc@1 of the weights (trained models only).", "models:"]
    for e in entries:
        lines.append(f"  - name: {yaml_scalar(e['name'])}")
        for k in FIELDS[1:]:
            if k == "top1" and e.get("top1") is None:
                continue
            lines.append(f"    {k}: {yaml_scalar(e[k])}")
        ex = e.get("transform_exact")
        if not e.get("source"):
            continue
        note = f"    # {e['source']}, weights {e.get('weights', '')}"
        if ex:
            note += (f"; the weights' own transform: Resize({ex['resize']}, {ex['interpolation']}) "
                     f"CenterCrop({ex['crop']})")
        lines.append(note)
    tmp = path + f".tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read_yaml(path):
    if not os.path.exists(path):
        return []
    try:
        import yaml
        doc = yaml.safe_load(open(path)) or {}
        return list(doc.get("models") or [])
    except Exception as e:
        print(f"warning: could not read {path} ({e}); it will be rewritten", file=sys.stderr)
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--list", metavar="FILE", help="model names, one per line ('#' comments), e.g. "
                                                   "scripts/models_conwell2024.txt")
    ap.add_argument("--models", help="comma-separated model names (name, name_random, timm:name)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--yaml", help="models.yaml to write or update (default OUT/models.yaml)")
    ap.add_argument("--random-only", action="store_true", help="only the randomly initialised variants")
    ap.add_argument("--trained-only", action="store_true", help="only the trained variants")
    ap.add_argument("--download", action="store_true", help="download trained weights missing from the cache")
    ap.add_argument("--weights", default="DEFAULT",
                    help="torchvision weights name (e.g. IMAGENET1K_V1); DEFAULT = torchvision's default")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random initialisation (default 0)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--keep-batchnorm", action="store_true",
                    help="keep BatchNormalization nodes (not folded into Conv) so they are capturable layers")
    ap.add_argument("--force", action="store_true", help="re-export models whose .onnx exists")
    ap.add_argument("--verify", metavar="VENTRAL", help="check each export with `VENTRAL run` against PyTorch")
    args = ap.parse_args()
    names = []
    if args.list:
        names += read_list(args.list)
    if args.models:
        names += [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        ap.error("give --list FILE or --models a,b")
    known = set(tvm.list_models(module=tvm))
    bad = [n for n in names if not n.startswith("timm:") and n.removesuffix("_random") not in known]
    if bad:
        ap.error(f"unknown torchvision {torchvision.__version__} models: {', '.join(bad)}")
    os.makedirs(args.out, exist_ok=True)
    args.yaml = args.yaml or os.path.join(args.out, "models.yaml")
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    entries = read_yaml(args.yaml)
    failed = []
    for spec in specs_for(names, args):
        try:
            e = export_one(spec, args)
        except Exception as ex:  # keep going through a long list
            print(f"{spec.name}: export FAILED: {type(ex).__name__}: {ex}", file=sys.stderr)
            failed.append(spec.name)
            continue
        if e is None:
            continue
        entries = [x for x in entries if x.get("name") != e["name"]] + [e]
        write_yaml(args.yaml, entries)  # after every model, so an interrupted run keeps what it finished
    print(f"{args.yaml}: {len(entries)} models", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
