"""`ventral extract` on a sequence-first transformer (PyTorch's TransformerEncoderLayer exported to
ONNX, whose attention tensors merge the stimuli with the heads): every layer `ventral layers`
lists is stored, per stimulus, identically for any batch size; the logits equal PyTorch's; layers
wider than k are projected exactly as `ventral srp` projects the same features; bad inputs fail
cleanly with no output file. The same for a small video model (3-D convolutions) on clips."""
import json
import os

import h5py
import numpy as np
import torch
import torch.nn as nn

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Conv2d(3, 32, 16, 16)
        self.enc = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        t = self.emb(x).flatten(2).permute(2, 0, 1)  # sequence-first: tokens x stimuli x dim
        return self.head(self.enc(t).mean(0))


torch.manual_seed(0)
model = Model().eval()
onnx_path = v.path("mha.onnx")
torch.onnx.export(model, torch.zeros(2, 3, 64, 64), onnx_path, opset_version=13, input_names=["x"],
                  dynamic_axes={"x": {0: "batch"}})
rng = np.random.default_rng(0)
x = rng.random((37, 3, 64, 64), dtype=np.float32)
stim = v.save("x.npy", x)
n_layers = len(v.run("layers", onnx_path, "--input-shape", "2,3,64,64").stdout.strip().splitlines()) - 1
stores = {}
for batch in ["16", "5"]:
    out = v.path(f"f{batch}.h5")
    v.run("extract", onnx_path, "--stimuli", stim, "--out", out, "--batch", batch, "-k", "200", "--seed", "3")
    stores[batch] = h5py.File(out, "r")
f16, f5 = stores["16"], stores["5"]
vtref.check(f16.attrs.get("precision") == "f32", f"the store records the engine precision ({f16.attrs.get('precision')})")
vtref.check(all(f16["layers"][k].attrs["model_dtype"] == "float32" for k in f16["layers"]),
            "every layer records the model's element type (float32)")
names = list(f16["layers"])
vtref.check(len(names) == n_layers, f"every layer stored: {len(names)} of {n_layers}")
vtref.check(all(np.array_equal(f16["layers"][k][()], f5["layers"][k][()]) for k in names),
            "features bit-identical for batch 16 and 5")
by_name = {f16["layers"][k].attrs["name"]: k for k in names}
attn = [k for k in names if f16["layers"][k].attrs["op"] == "Softmax"]
vtref.check(len(attn) == 1 and f16["layers"][attn[0]].attrs["shape"] == "4x16x16",
            f"attention weights stored per stimulus as heads x tokens x tokens ({[f16['layers'][k].attrs['shape'] for k in attn]})")
with torch.no_grad():
    logits = model(torch.from_numpy(x)).numpy()
last = [k for k in names if f16["layers"][k].attrs["op"] == "Gemm"][-1]
vtref.check_close("logits vs PyTorch", f16["layers"][last][()], logits, atol=1e-4, rtol=1e-4)
# Every projected layer equals `ventral srp` applied to the same unprojected features, the layers that share
# a width (and so one plan inside extract) included.
wide = [k for k in names if f16["layers"][k].attrs["projected"] == 1]
widths = [int(f16["layers"][k].attrs["features"]) for k in wide]
vtref.check(len(wide) > 0 and len(set(widths)) < len(widths),
            f"{len(wide)} layers wider than k = 200 were projected, {len(set(widths))} distinct widths")
raw = v.path("raw")
v.run("run", onnx_path, "--input", stim, "--out", raw, "--capture", "all")
with open(os.path.join(raw, "manifest.json")) as fh:
    files = {e["name"]: e["file"] for e in json.load(fh) if e["kind"] == "layer"}
worst = 0.0
for k in wide:
    feats = np.load(os.path.join(raw, files[f16["layers"][k].attrs["name"]])).reshape(37, -1).astype(np.float32)
    v.run("srp", v.save("feats.npy", feats), "-o", v.path("z.npy"), "-k", "200", "--seed", "3")
    z = np.load(v.path("z.npy"))
    got = f16["layers"][k][()]
    worst = max(worst, float(np.abs(got - z).max() / max(np.abs(z).max(), 1e-30)))
vtref.check(worst < 1e-5, f"{len(wide)} projected layers vs ventral srp: max relative difference {worst:.2g}")
v.expect_error("wrong image size", "extract", onnx_path, "--stimuli", v.save("bad.npy", x[:, :, :32]), "--out",
               v.path("bad.h5"), contains="dimension 2")
vtref.check(not os.path.exists(v.path("bad.h5")), "no output after a failure")
os.makedirs(v.path("adir.h5"), exist_ok=True)
v.expect_error("a directory as --out", "extract", onnx_path, "--stimuli", v.save("ok.npy", x), "--out",
               v.path("adir.h5"), contains="is a directory")
vtref.check(not [f for f in os.listdir(v.dir) if f.startswith("adir.h5.tmp")], "a directory as --out: no temporary file")

# Video models: float32 N x 3 x T x H x W clips go through extract as they are (no transform); the same
# checks (batch invariance, logits vs PyTorch, projections vs `ventral srp`), and a clear error where the
# model and the stimuli disagree (clips for an image model, images for a video model).
video = nn.Sequential(nn.Conv3d(3, 8, (3, 5, 5), (1, 2, 2), (1, 2, 2)), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
                      nn.Conv3d(8, 8, 3, padding=1), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 3)).eval()
video_path = v.path("video.onnx")
torch.onnx.export(video, torch.zeros(2, 3, 4, 16, 16), video_path, opset_version=13, input_names=["clip"],
                  dynamic_axes={"clip": {0: "batch"}})
clips = rng.standard_normal((9, 3, 4, 16, 16)).astype(np.float32)
clip_path = v.save("clips.npy", clips)
vstores = {}
for batch in ["4", "3"]:
    out = v.path(f"v{batch}.h5")
    r = v.run("extract", video_path, "--stimuli", clip_path, "--out", out, "--batch", batch, "-k", "64")
    vtref.check(r.returncode == 0, f"extract of clips (batch {batch}): {r.stderr.strip()[-300:]}")
    vstores[batch] = h5py.File(out, "r") if r.returncode == 0 else None
if vstores["4"] and vstores["3"]:
    v4, v3 = vstores["4"], vstores["3"]
    vnames = list(v4["layers"])
    vtref.check(len(vnames) >= 7 and all(np.array_equal(v4["layers"][k][()], v3["layers"][k][()]) for k in vnames),
                f"clips: {len(vnames)} layers, bit-identical for batch 4 and 3")
    with torch.no_grad():
        vlogits = video(torch.from_numpy(clips)).numpy()
    vlast = [k for k in vnames if v4["layers"][k].attrs["op"] == "Gemm"][-1]
    vtref.check_close("clips: logits vs PyTorch", v4["layers"][vlast][()], vlogits, atol=1e-4, rtol=1e-4)
    vraw = v.path("vraw")
    v.run("run", video_path, "--input", clip_path, "--out", vraw, "--capture", "all")
    with open(os.path.join(vraw, "manifest.json")) as fh:
        vfiles = {e["name"]: e["file"] for e in json.load(fh) if e["kind"] == "layer"}
    vwide = [k for k in vnames if v4["layers"][k].attrs["projected"] == 1]
    worst = 0.0
    for k in vwide:
        feats = np.load(os.path.join(vraw, vfiles[v4["layers"][k].attrs["name"]])).reshape(9, -1)
        v.run("srp", v.save("vfeats.npy", feats.astype(np.float32)), "-o", v.path("vz.npy"), "-k", "64")
        z = np.load(v.path("vz.npy"))
        worst = max(worst, float(np.abs(v4["layers"][k][()] - z).max() / max(np.abs(z).max(), 1e-30)))
    vtref.check(len(vwide) >= 3 and worst < 1e-5,
                f"clips: {len(vwide)} projected layers vs ventral srp: max relative difference {worst:.2g}")
v.expect_error("clips for an image model", "extract", onnx_path, "--stimuli", clip_path, "--out", v.path("bad.h5"),
               contains="the stimuli are clips")
v.expect_error("images for a video model", "extract", video_path, "--stimuli", stim, "--out", v.path("bad.h5"),
               contains="N x 3 x T x H x W clips")
vtref.check(not os.path.exists(v.path("bad.h5")), "no output after a failure")

# A model exported with its tracing batch fixed (no dynamic_axes) but batch-agnostic inside: with --batch equal
# to that size every layer is located and stored, and equals the features of the same model with a symbolic
# batch; a batch size other than the fixed one is refused naming it. A fixed-batch export whose graph bakes the
# batch into its reshapes (the transformer above) is refused with the remedy, not written empty.
cnn = nn.Sequential(nn.Conv2d(3, 8, 5, 4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 7 * 7, 5)).eval()
fixed_path, free_path = v.path("fixed.onnx"), v.path("free.onnx")
torch.onnx.export(cnn, torch.zeros(2, 3, 64, 64), fixed_path, opset_version=13, input_names=["x"])
torch.onnx.export(cnn, torch.zeros(2, 3, 64, 64), free_path, opset_version=13, input_names=["x"],
                  dynamic_axes={"x": {0: "batch"}})
stim36 = v.save("x36.npy", x[:36])
for name, path in (("fixed", fixed_path), ("free", free_path)):
    v.run("extract", path, "--stimuli", stim36, "--out", v.path(f"{name}.h5"), "--batch", "2", "-k", "200")
with h5py.File(v.path("fixed.h5"), "r") as ff, h5py.File(v.path("free.h5"), "r") as fr:
    same = sorted(ff["layers"]) == sorted(fr["layers"]) and all(
        np.array_equal(ff["layers"][k][()], fr["layers"][k][()]) for k in fr["layers"])
    vtref.check(same and len(ff["layers"]) == 5,
                f"fixed-batch export: {len(ff['layers'])} of 5 layers stored, equal to the symbolic export's")
v.expect_error("fixed-batch export with another --batch", "extract", fixed_path, "--stimuli", stim36, "--out",
               v.path("bad.h5"), "--batch", "4", contains="fixed batch size 2; use --batch 2")
baked = v.path("baked.onnx")
torch.onnx.export(model, torch.zeros(2, 3, 64, 64), baked, opset_version=13, input_names=["x"])
v.expect_error("fixed-batch export whose graph depends on it", "extract", baked, "--stimuli", stim36, "--out",
               v.path("bad.h5"), "--batch", "2", contains="export it with a symbolic batch dimension")
vtref.check(not os.path.exists(v.path("bad.h5")), "no output after a failure")
