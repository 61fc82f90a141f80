"""`ventral extract` on a sequence-first transformer (PyTorch's TransformerEncoderLayer exported to
ONNX, whose attention tensors merge the stimuli with the heads): every layer `ventral layers`
lists is stored, per stimulus, identically for any batch size; the logits equal PyTorch's; layers
wider than k are projected exactly as `ventral srp` projects the same features; bad inputs fail
cleanly with no output file."""
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
