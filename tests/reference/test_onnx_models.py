"""ONNX import and the oneDNN kernels on hand-built models (onnx.helper), checked against
independent references (numpy; torch.nn.functional for convolutions):

- Conv through oneDNN (constant weights) over groups, depthwise, dilation, asymmetric pads, strides,
  auto_pad, 1-D, with and without bias, against torch.nn.functional.conv1d/conv2d (tolerance 1e-5 relative
  to the largest magnitude); 3-D Conv, ConvTranspose (output_padding past the pads, groups), MaxPool and
  AveragePool (ceil mode, pads, count_include_pad, dilation) against torch's conv3d / conv_transpose3d /
  max_pool3d / avg_pool3d;
- MatMul (batched, broadcast, 1-D promotion) and Gemm (transA/transB/alpha/beta, broadcast C) against numpy;
- MaxPool's fast kernels on wide rows full of ties (+0/-0) and NaNs, bit for bit against a numpy loop that
  visits the taps in row-major order (the first maximum, else the last NaN wins: PyTorch's rule);
- bit-identical rows for batch sizes 1, 3 and 5 and for 1 and 2 threads;
- external-data initializers; opsets outside 1-18 and ops whose early form is not built, unknown ops and
  domains, corrupt and truncated files
  refused with one clean line naming the problem;
- `ventral layers` table and capture specs (op:, name:, index:, bad specs);
- Resize against F.interpolate (nearest, bilinear, bicubic, trilinear; align_corners; scale
  factors and sizes; opsets 11 and 13);
- Einsum against torch.einsum (products, attention contractions, implicit outputs, ellipsis, diagonals, sums);
- GridSample against F.grid_sample (every mode / padding / align_corners), TopK, ScatterElements, OneHot
  against torch.topk / scatter / scatter_add / one_hot;
- quantized models: a QDQ export of a PyTorch-quantized CNN against PyTorch; QLinearConv, ConvInteger,
  MatMulInteger, QLinearMatMul against exact integer references;
- LSTM, GRU and RNN against torch.nn.LSTM / GRU / RNN; cross-entropy and NLL losses against PyTorch;
- RoiAlign against torchvision.ops.roi_align (max mode against the spec's definition in numpy), NonMaxSuppression
  against torchvision.ops.nms per batch and class;
- If and Loop (nested, reading outer-scope values) as torch.jit.script exports Python control flow;
- float16 / bfloat16: Cast rounding bit for bit against numpy / torch (ties, subnormals, overflow, NaN), a
  float16 CNN against a per-op float16-rounded reference, and a mixed float32/float16 graph;
- DFT / inverse DFT against numpy.fft, the Hann / Hamming / Blackman windows against numpy, STFT against
  torch.stft (center=False), on float32 and float64.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import vtref

RNG = np.random.default_rng(7)


def save_model(v, name, nodes, inputs, outputs, inits, opset=13, external=False):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=[numpy_helper.from_array(a, n)
                                                                         for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    path = v.path(name + ".onnx")
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=name + ".weights", size_threshold=0)
    else:
        onnx.save_model(model, path)
    return path


def run_model(v, path, x, capture="all", batch=None, env=None, precision=None, x_dtype=np.float32):
    xp = v.save(os.path.basename(path) + "_x.npy", x.astype(x_dtype))
    out = path + "_out"
    args = ["run", path, "--input", xp, "--out", out, "--capture", capture]
    if batch:
        args += ["--batch", str(batch)]
    if precision:
        args += ["--precision", precision]
    r = v.run(*args, env=env)
    if r.returncode != 0:
        return None, None
    with open(os.path.join(out, "manifest.json")) as f:
        man = json.load(f)
    outs = [np.load(os.path.join(out, e["file"])) for e in man if e["kind"] == "output"]
    return outs, man


def rel_err(got, want):
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-30))


def test_conv(v):
    import torch
    import torch.nn.functional as F
    cases = [  # (C, M, H, W, k, stride, pad(list of 4 or None), dil, group, bias, auto_pad)
        (3, 8, 17, 19, 3, 1, [1, 1, 1, 1], 1, 1, True, None),
        (8, 16, 16, 16, 3, 2, [0, 1, 2, 0], 1, 1, False, None),
        (8, 8, 15, 15, 3, 1, [1, 1, 1, 1], 1, 8, True, None),   # depthwise
        (8, 12, 14, 13, 3, 1, [2, 2, 2, 2], 2, 4, True, None),  # grouped + dilated
        (16, 32, 9, 9, 1, 1, None, 1, 1, True, None),           # 1x1
        (4, 6, 11, 11, 5, 3, None, 1, 2, True, "SAME_UPPER"),
        (4, 6, 10, 10, 4, 2, None, 1, 1, False, "SAME_LOWER"),
        (4, 6, 12, 12, 3, 2, None, 1, 1, True, "VALID"),
    ]
    worst = 0.0
    for i, (C, M, H, W, k, s, pad, d, g, bias, ap) in enumerate(cases):
        w = RNG.standard_normal((M, C // g, k, k)).astype(np.float32)
        b = RNG.standard_normal(M).astype(np.float32)
        attrs = dict(kernel_shape=[k, k], strides=[s, s], dilations=[d, d], group=g)
        if pad:
            attrs["pads"] = pad
        if ap:
            attrs["auto_pad"] = ap
        inputs = ["x", "w"] + (["b"] if bias else [])
        node = helper.make_node("Conv", inputs, ["y"], **attrs)
        inits = {"w": w, **({"b": b} if bias else {})}
        path = save_model(v, f"conv{i}", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                ["N", C, H, W])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        x = RNG.standard_normal((3, C, H, W)).astype(np.float32)
        outs, _ = run_model(v, path, x, capture="none")
        xt = torch.from_numpy(x)
        if ap:  # torch pads explicitly: compute the SAME/VALID pads the way ONNX defines them
            pads = []
            for n_in in (H, W):
                if ap == "VALID":
                    pads.append((0, 0))
                    continue
                o = -(-n_in // s)
                total = max((o - 1) * s + (k - 1) * d + 1 - n_in, 0)
                lo = total // 2 if ap == "SAME_UPPER" else total - total // 2
                pads.append((lo, total - lo))
            xt = F.pad(xt, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
        elif pad:
            xt = F.pad(xt, (pad[1], pad[3], pad[0], pad[2]))
        ref = F.conv2d(xt.double(), torch.from_numpy(w).double(), torch.from_numpy(b).double() if bias else None,
                       stride=s, dilation=d, groups=g).numpy()
        if outs is None:
            continue
        e = rel_err(outs[0], ref)
        worst = max(worst, e)
        vtref.check(outs[0].shape == ref.shape and e < 1e-5, f"conv case {i}: shape {outs[0].shape} vs "
                                                              f"{ref.shape}, error {e:.3g}")
    # 1-D convolution
    w = RNG.standard_normal((5, 3, 4)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[4], strides=[2], pads=[1, 2])
    path = save_model(v, "conv1d", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 20])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {"w": w})
    x = RNG.standard_normal((2, 3, 20)).astype(np.float32)
    outs, _ = run_model(v, path, x, capture="none")
    ref = F.conv1d(F.pad(torch.from_numpy(x).double(), (1, 2)), torch.from_numpy(w).double(), stride=2).numpy()
    if outs is not None:
        e = rel_err(outs[0], ref)
        worst = max(worst, e)
        vtref.check(outs[0].shape == ref.shape and e < 1e-5, f"conv1d: error {e:.3g}")
    print(f"  Conv (oneDNN) vs torch.nn.functional: {len(cases) + 1} cases, max relative error {worst:.3g}")


def test_3d(v):
    """3-D Conv / ConvTranspose (oneDNN, constant weights) and MaxPool / AveragePool against torch."""
    import torch
    import torch.nn.functional as F
    worst, n = 0.0, 0

    def check(name, nodes, x, inits, ref):
        nonlocal worst, n
        path = save_model(v, name, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         ["N", *x.shape[1:]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        outs, _ = run_model(v, path, x, capture="none")
        if outs is None:
            vtref.check(False, f"{name}: ventral run failed")
            return
        e = rel_err(outs[0], ref)
        worst, n = max(worst, e), n + 1
        vtref.check(outs[0].shape == ref.shape and e < 1e-5, f"{name}: shape {outs[0].shape} vs {ref.shape}, "
                                                             f"error {e:.3g}")

    x = RNG.standard_normal((3, 8, 5, 9, 10)).astype(np.float32)
    xt = torch.from_numpy(x).double()
    # Conv: asymmetric pads and strides; grouped and dilated (NCDHW, pads begin d,h,w then end d,h,w).
    for i, (M, k, s, pads, d, g) in enumerate([(16, (3, 3, 3), (1, 2, 2), [1, 0, 2, 0, 1, 1], 1, 1),
                                               (12, (2, 3, 3), (1, 1, 1), [1, 2, 2, 1, 2, 2], 2, 4)]):
        w = RNG.standard_normal((M, 8 // g, *k)).astype(np.float32)
        b = RNG.standard_normal(M).astype(np.float32)
        node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=list(k), strides=list(s), pads=pads,
                                dilations=[d] * 3, group=g)
        xp = F.pad(xt, (pads[2], pads[5], pads[1], pads[4], pads[0], pads[3]))
        ref = F.conv3d(xp, torch.from_numpy(w).double(), torch.from_numpy(b).double(), stride=s, dilation=d,
                       groups=g).numpy()
        check(f"conv3d_{i}", [node], x, {"w": w, "b": b}, ref)
    # ConvTranspose: output_padding beyond the pads (the output's tail is the bias alone) and groups.
    for i, (M, k, s, p, op, g) in enumerate([(6, (2, 3, 3), (2, 2, 1), (0, 1, 0), (1, 1, 0), 1),
                                             (4, (3, 3, 2), (1, 2, 2), (1, 0, 0), (0, 1, 1), 2)]):
        w = RNG.standard_normal((8, M // g, *k)).astype(np.float32)
        b = RNG.standard_normal(M).astype(np.float32)
        node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=list(k), strides=list(s),
                                pads=list(p) * 2, output_padding=list(op), group=g)
        ref = F.conv_transpose3d(xt, torch.from_numpy(w).double(), torch.from_numpy(b).double(), stride=s,
                                 padding=p, output_padding=op, groups=g).numpy()
        check(f"convtranspose3d_{i}", [node], x, {"w": w, "b": b}, ref)
    # Pooling: ceil mode, padding, count_include_pad both ways, dilated max.
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 3, 3], strides=[1, 2, 2], pads=[0, 1, 1] * 2,
                            dilations=[2, 1, 1], ceil_mode=1)
    check("maxpool3d", [node], x, {}, F.max_pool3d(xt, (2, 3, 3), (1, 2, 2), (0, 1, 1), dilation=(2, 1, 1),
                                                   ceil_mode=True).numpy())
    for inc in (0, 1):
        node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3, 2], strides=[2, 2, 2],
                                pads=[1, 1, 0] * 2, ceil_mode=1, count_include_pad=inc)
        check(f"avgpool3d_{inc}", [node], x, {}, F.avg_pool3d(xt, (3, 3, 2), 2, (1, 1, 0), ceil_mode=True,
                                                              count_include_pad=bool(inc)).numpy())
    print(f"  3-D Conv / ConvTranspose / pooling vs torch.nn.functional: {n} cases, max relative error {worst:.3g}")


def f16_exact(a):
    return np.array_equal(np.asarray(a, np.float32), np.asarray(a, np.float32).astype(np.float16).astype(np.float32),
                          equal_nan=True)


def test_narrow(v):
    """float16 / bfloat16 models: values held in float32, each op's result rounded to the declared type."""
    import torch
    # Cast to float16 and bfloat16, bit for bit against numpy's and torch's round-to-nearest-even.
    rng = np.random.default_rng(11)
    with np.errstate(over="ignore"):
        x = (rng.standard_normal(20000) * np.exp2(rng.integers(-30, 20, 20000))).astype(np.float32)
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 65519.996, 65520, -65520, 1e-8, 2.0 ** -25,
                      3 * 2.0 ** -25, 2.0 ** -24, 2.0 ** -14 - 2.0 ** -26, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11,
                      3.4e38, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1.4e-45], np.float32)
    x = np.concatenate([edges, x]).reshape(1, -1)
    for to, name in ((TensorProto.FLOAT16, "float16"), (TensorProto.BFLOAT16, "bfloat16")):
        nodes = [helper.make_node("Cast", ["x"], ["h"], to=to), helper.make_node("Cast", ["h"], ["y"], to=1)]
        path = save_model(v, f"cast_{name}", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                  ["N", x.shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {})
        outs, _ = run_model(v, path, x, capture="none")
        if name == "float16":
            with np.errstate(over="ignore"):
                want = x.astype(np.float16).astype(np.float32)
        else:
            want = torch.from_numpy(x).to(torch.bfloat16).to(torch.float32).numpy()
        # Bit for bit (so -0 counts), NaN as NaN (payloads differ between implementations).
        nan = np.isnan(want)
        ok = outs is not None and np.array_equal(np.isnan(outs[0]), nan) and \
            np.array_equal(outs[0][~nan].view(np.uint32), want[~nan].view(np.uint32))
        print(f"  Cast to {name}: {x.size} values, {'bit-identical' if ok else 'DIFFERENT'}")
        vtref.check(ok, f"Cast to {name}: {x.size} values (ties, subnormals, overflow, NaN, -0) equal "
                        f"{'numpy' if name == 'float16' else 'torch'}'s rounding")
    # A float16 model: Conv -> Relu -> MaxPool -> Flatten -> Gemm, float16 input, weights and output.
    h = np.float16
    w = (rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(h)
    b = rng.standard_normal(6).astype(h)
    wg = (rng.standard_normal((6 * 4 * 4, 5)) * 0.1).astype(h)
    bg = rng.standard_normal(5).astype(h)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "wg", "bg"], ["y"])]
    path = save_model(v, "fp16_cnn", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["N", 3, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT16, None)],
                      {"w": w, "b": b, "wg": wg, "bg": bg})
    xin = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    xh = xin.astype(h).astype(np.float64)
    import torch.nn.functional as F
    conv = F.conv2d(torch.from_numpy(xh), torch.from_numpy(w.astype(np.float64)), torch.from_numpy(b.astype(np.float64)),
                    padding=1).numpy().astype(h)
    pool = F.max_pool2d(torch.from_numpy(np.maximum(conv, 0).astype(np.float64)), 2).numpy()
    ref = (pool.reshape(4, -1) @ wg.astype(np.float64) + bg.astype(np.float64)).astype(h).astype(np.float32)
    for capture in ("all", "none"):
        outs, man = run_model(v, path, xin, capture=capture, batch=3)
        if outs is None:
            vtref.check(False, f"float16 model (capture {capture}): ventral run failed")
            continue
        got = outs[0]
        ulp = np.abs(np.spacing(ref.astype(h)).astype(np.float32))
        diff = np.abs(got - ref)
        vtref.check(got.shape == ref.shape and f16_exact(got) and bool(np.all(diff <= ulp)),
                    f"float16 model (capture {capture}): logits are float16 values within one float16 ulp of the "
                    f"per-op rounded reference ({int((diff > 0).sum())} of {diff.size} differ by one ulp)")
        print(f"  float16 model (capture {capture}): {int((diff > 0).sum())} of {diff.size} logits one float16 ulp "
              f"from the per-op rounded float64 reference, the rest equal")
        if capture == "all":
            layers = [np.load(os.path.join(path + "_out", e["file"])) for e in man if e["kind"] == "layer"]
            vtref.check(len(layers) == 5 and all(f16_exact(a) for a in layers),
                        f"float16 model: all {len(layers)} captured layers hold float16 values")
            vtref.check(all(e["model_dtype"] == "float16" for e in man),
                        f"float16 model: the manifest says float16 ({sorted({e['model_dtype'] for e in man})})")
            table = v.run("layers", path, "--input-shape", "1,3,8,8").stdout.strip().splitlines()
            vtref.check(table[0].split()[-1] == "type" and all(l.split()[-1] == "float16" for l in table[1:]),
                        "float16 model: `ventral layers` gives each layer's type as float16")
    # Mixed precision (an autocast export): float32 in, a float16 segment, float32 out.
    k = np.array([0.1], h)
    nodes = [helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
             helper.make_node("Mul", ["xh", "k"], ["m"]),
             helper.make_node("Cast", ["m"], ["y"], to=TensorProto.FLOAT)]
    path = save_model(v, "mixed", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {"k": k})
    xm = rng.standard_normal((3, 7)).astype(np.float32) * 100
    outs, man = run_model(v, path, xm, capture="all")
    vtref.check(man is not None and [e["model_dtype"] for e in man] == ["float16", "float16", "float32", "float32"],
                f"mixed graph: the manifest's types follow the casts ({man and [e['model_dtype'] for e in man]})")
    want = (xm.astype(h).astype(np.float64) * np.float64(k[0])).astype(h).astype(np.float32)
    vtref.check(outs is not None and np.array_equal(outs[0], want), "mixed float32/float16 graph equals numpy's "
                                                                     "per-op float16 rounding")


def test_resize(v):
    """Resize as PyTorch exports F.interpolate (opsets 11 and 13): nearest, bilinear and bicubic
    with and without align_corners, trilinear, by scale factor and by size, up and down."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Planar(nn.Module):
        def forward(self, x):
            return (F.interpolate(x, scale_factor=2, mode="nearest"),
                    F.interpolate(x, size=(5, 13), mode="nearest"),
                    F.interpolate(x, scale_factor=1.7, mode="nearest"),
                    F.interpolate(x, scale_factor=2.5, mode="bilinear", align_corners=False),
                    F.interpolate(x, size=(4, 6), mode="bilinear", align_corners=False),
                    F.interpolate(x, size=(17, 9), mode="bilinear", align_corners=True),
                    F.interpolate(x, scale_factor=3, mode="bicubic", align_corners=False),
                    F.interpolate(x, size=(6, 20), mode="bicubic", align_corners=True))

    class Volume(nn.Module):
        def forward(self, v):
            return (F.interpolate(v, scale_factor=(2, 1.5, 0.5), mode="trilinear", align_corners=False),
                    F.interpolate(v, size=(3, 5, 7), mode="nearest"))

    torch.manual_seed(0)
    worst, n = 0.0, 0
    for name, mod, inp in (("planar", Planar(), torch.randn(2, 3, 7, 10)), ("volume", Volume(), torch.randn(2, 2, 4, 6, 8))):
        with torch.no_grad():
            want = [r.numpy() for r in mod(inp)]
        for opset in (11, 13):
            path = v.path(f"interp_{name}{opset}.onnx")
            torch.onnx.export(mod, inp, path, opset_version=opset, input_names=["x"],
                              output_names=[f"y{i}" for i in range(len(want))])
            outs, _ = run_model(v, path, inp.numpy(), capture="none")
            if outs is None:
                vtref.check(False, f"interp {name} opset {opset}: ventral run failed")
                continue
            for i, (got, ref) in enumerate(zip(outs, want)):
                e = rel_err(got, ref) if got.shape == ref.shape else float("inf")
                worst, n = max(worst, e), n + 1
                vtref.check(e < 1e-5, f"interp {name} opset {opset} output {i}: shape {got.shape} vs {ref.shape}, "
                                      f"error {e:.3g}")
    print(f"  Resize vs F.interpolate: {n} outputs (opsets 11, 13), max relative error {worst:.3g}")
    # What is not built says so: antialiased downsampling (opset 18), scales computed from the data.
    sc = np.array([1, 1, 0.5, 0.5], np.float32)
    node = helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear", antialias=1)
    path = save_model(v, "resize_aa", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {"s": sc}, opset=18)
    v.expect_error("Resize antialias", "layers", path, contains="antialias=1 is not supported")
    nodes = [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0), helper.make_node("Expand", ["m", "four"], ["s"]),
             helper.make_node("Resize", ["x", "", "s"], ["y"])]
    path = save_model(v, "resize_dyn", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                      {"four": np.array([4], np.int64)})
    v.expect_error("Resize with data-dependent scales", "layers", path, contains="must be constants")


def test_einsum(v):
    """Einsum against torch.einsum: matrix and batched products, attention-style contractions, implicit
    outputs, ellipsis broadcasting, diagonals, labels summed away, one operand; a constant second operand."""
    import torch
    cases = [  # (equation, shape 0, shape 1 or None, second operand constant)
        ("ij,jk->ik", (5, 7), (7, 3), False),
        ("bhid,bhjd->bhij", (2, 3, 5, 4), (2, 3, 6, 4), False),
        ("bhij,bhjd->bhid", (2, 3, 5, 6), (2, 3, 6, 4), False),
        ("bij,jk", (3, 4, 5), (5, 6), True),
        ("...ij,...jk->...ik", (2, 1, 4, 5), (3, 5, 2), False),
        ("i,i", (7,), (7,), False),
        ("ij,ij->i", (4, 5), (4, 5), False),
        ("bid,jd->bij", (2, 5, 8), (6, 8), True),
        ("nchw,c->nhw", (2, 3, 4, 5), (3,), True),
        ("ii->i", (5, 5), None, False),
        ("...ii->...i", (2, 3, 4, 4), None, False),
        ("ij->ji", (3, 6), None, False),
        ("ijk->", (3, 4, 5), None, False),
        ("bij->bj", (2, 3, 4), None, False),
        ("abc,cd->abd", (4, 1, 3), (3, 2), False),
        ("xy,yz", (3, 0), (0, 2), False),  # nothing to contract: zeros
    ]
    worst, n = 0.0, 0
    for i, (eq, s0, s1, const) in enumerate(cases):
        x0 = RNG.standard_normal(s0).astype(np.float32)
        x1 = RNG.standard_normal(s1).astype(np.float32) if s1 else None
        ins = ["x"] + (["w"] if s1 else [])
        node = helper.make_node("Einsum", ins, ["y"], equation=eq)
        graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(s0))]
        inits = {}
        if s1 and const:
            inits["w"] = x1
        elif s1:  # a second runtime operand: feed it as a Constant node so `ventral run` has one input
            node = [helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(x1, "w")), node]
        nodes = node if isinstance(node, list) else [node]
        path = save_model(v, f"einsum{i}", nodes, graph_inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                                              None)], inits)
        # One batch holding every row, so outputs that do not keep dim 0 (sums, inner products) come back whole.
        outs, _ = run_model(v, path, x0, capture="none", batch=s0[0])
        ref = torch.einsum(eq, *[torch.from_numpy(a).double() for a in ([x0, x1] if s1 else [x0])]).numpy()
        if outs is None:
            vtref.check(False, f"einsum '{eq}': ventral run failed")
            continue
        got = outs[0].reshape(ref.shape) if ref.ndim == 0 and outs[0].size == 1 else outs[0]
        e = (rel_err(got, ref) if ref.size and ref.any() else float(np.abs(got).max(initial=0))) \
            if got.shape == ref.shape else float("inf")
        worst, n = max(worst, e), n + 1
        vtref.check(e < 1e-5, f"einsum '{eq}': shape {got.shape} vs {ref.shape}, error {e:.3g}")
    # Three operands (the direct sum of products) as PyTorch exports them, and float64 operands.
    w3 = torch.from_numpy(RNG.standard_normal((6, 6)).astype(np.float32))

    class Three(torch.nn.Module):
        def forward(self, x):
            return (torch.einsum("bi,ij,bj->b", x, w3, x),
                    torch.einsum("bi,bj,bk->bijk", x[:, :3], x[:, 1:4], x[:, 2:5]))

    x = torch.from_numpy(RNG.standard_normal((4, 6)).astype(np.float32))
    outs, want = export_and_run(v, "einsum3", Three(), x, 12, batch=4)
    x64 = x.double()
    refs = [torch.einsum("bi,ij,bj->b", x64, w3.double(), x64).numpy(),
            torch.einsum("bi,bj,bk->bijk", x64[:, :3], x64[:, 1:4], x64[:, 2:5]).numpy()]
    e3 = max(rel_err(o, r) for o, r in zip(outs, refs)) if outs else float("inf")
    vtref.check(e3 < 1e-6, f"three-operand einsum: error {e3:.3g}")
    w64 = RNG.standard_normal((6, 5))
    nodes = [helper.make_node("Cast", ["x"], ["xd"], to=TensorProto.DOUBLE),
             helper.make_node("Einsum", ["xd", "w"], ["y"], equation="bi,ij->bj"),
             helper.make_node("Einsum", ["xd"], ["y2"], equation="bi->i")]
    path = save_model(v, "einsum64", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                      [helper.make_tensor_value_info(n, TensorProto.DOUBLE, None) for n in ("y", "y2")], {"w": w64})
    outs, _ = run_model(v, path, x.numpy(), capture="none", batch=4)
    refs = [x64.numpy() @ w64, x64.numpy().sum(0)]
    ok = outs is not None and all(o.dtype == np.float64 and rel_err(o, r) < 1e-14 for o, r in zip(outs, refs))
    vtref.check(ok, "float64 einsum: not float64 or not equal to numpy")
    print(f"  Einsum vs torch.einsum: {n} equations, max relative error {worst:.3g}; three operands {e3:.3g}; "
          "float64 operands in double")
    bad = save_model(v, "einsum_bad", [helper.make_node("Einsum", ["x"], ["y"], equation="ij->k")],
                     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {})
    v.expect_error("Einsum output label in no operand", "layers", bad, contains="output label not in any operand")


def export_and_run(v, name, module, x, opset, batch=None):
    """Exports `module` at `opset` (outputs y0, y1, ...), runs it through ventral on x; returns (ventral's
    outputs or None, PyTorch's)."""
    import torch
    with torch.no_grad():
        want = [r.numpy() for r in module(x)]
    path = v.path(name + ".onnx")
    torch.onnx.export(module, x, path, opset_version=opset, input_names=["x"],
                      output_names=[f"y{i}" for i in range(len(want))])
    outs, _ = run_model(v, path, x.numpy(), capture="none", batch=batch)
    return outs, want


def test_misc_ops(v):
    """Pixel shuffle (DepthToSpace, CRD), CELU, soft and hard shrink, asin/atan/tan, gather (GatherElements),
    triu/tril (Trilu), cumsum as PyTorch exports them."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class M(nn.Module):
        def forward(self, x):
            idx = (torch.arange(8 * 3 * 5).reshape(1, 8, 3, 5) * 7 % 8).expand(2, 8, 3, 5)
            return (F.pixel_shuffle(x, 2), F.celu(x, 0.7), F.softshrink(x, 0.3), F.hardshrink(x, 0.4),
                    torch.asin(torch.tanh(x) * 0.9), torch.atan(x), torch.tan(x * 0.5), torch.gather(x, 1, idx),
                    torch.triu(x, 1), torch.tril(x, -1), torch.cumsum(x, dim=2), torch.cumsum(x, dim=-1))

    torch.manual_seed(0)
    outs, want = export_and_run(v, "misc", M(), torch.randn(2, 8, 3, 5), 14)
    worst = 0.0
    for i, ref in enumerate(want):
        got = outs[i] if outs else None
        e = rel_err(got, ref) if got is not None and got.shape == ref.shape else float("inf")
        worst = max(worst, e)
        vtref.check(e < 1e-5, f"misc op output {i}: error {e:.3g}")
    print(f"  pixel shuffle, CELU, shrinks, asin/atan/tan, gather, triu/tril, cumsum vs PyTorch: max relative error {worst:.3g}")


def test_sampling_indexing(v):
    """GridSample as PyTorch exports F.grid_sample (every mode, padding mode and align_corners, points past the
    edges), topk (largest and smallest, ties), scatter and scatter_add (ScatterElements, reduction add) and
    one_hot (OneHot), at opset 16."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class M(nn.Module):
        def forward(self, x):
            grid = torch.tanh(x[:, :2].permute(0, 2, 3, 1)) * 1.3  # about a fifth of the points outside [-1, 1]
            outs = [F.grid_sample(x, grid, mode=mode, padding_mode=pad, align_corners=ac)
                    for mode in ("bilinear", "nearest", "bicubic") for pad in ("zeros", "border", "reflection")
                    for ac in (False, True)]
            perm = torch.argsort(x[:, :, :, :1] * 0 + torch.arange(7.0).flip(0) + x[:, :1, :1, :] * 0, dim=3)
            return (*outs, *torch.topk(x, 3, dim=-1), *torch.topk(torch.round(x * 2), 4, dim=1, largest=False),
                    torch.scatter(torch.zeros_like(x), 3, perm, x), torch.scatter_add(x, 1, perm % 4, x * 2),
                    F.one_hot(torch.clamp((x[:, 0] * 2 + 2).long(), 0, 4), num_classes=5))

    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 7)
    with torch.no_grad():
        want = [r.numpy() for r in M()(x)]
    path = v.path("sampling.onnx")
    torch.onnx.export(M(), x, path, opset_version=16, input_names=["x"],
                      output_names=[f"y{i}" for i in range(len(want))])
    outs, _ = run_model(v, path, x.numpy(), capture="none")
    vtref.check(outs is not None and len(outs) == len(want), "grid_sample/topk/scatter/one_hot model: ventral run failed")
    worst = 0.0
    for i, ref in enumerate(want):
        got = outs[i] if outs and i < len(outs) else None
        if got is None or got.shape != ref.shape:
            vtref.check(False, f"sampling output {i}: shape {None if got is None else got.shape} vs {ref.shape}")
        elif i == 21:  # topk indices over ties: torch leaves their order open, ONNX puts the lower index first
            vals = np.take_along_axis(np.round(x.numpy() * 2), got, axis=1)
            d = np.diff(got, axis=1)
            tied = np.diff(vals, axis=1) == 0
            vtref.check(np.array_equal(vals, want[20]) and bool((d[tied] > 0).all()) and bool(tied.any()),
                        "topk over ties: indices must pick the values, equal values by ascending index")
        elif ref.dtype.kind in "iu":  # topk indices without ties, one_hot: exact
            vtref.check(np.array_equal(got, ref), f"sampling output {i} ({ref.dtype}): differs from PyTorch")
        else:
            e = rel_err(got, ref)
            worst = max(worst, e)
            vtref.check(e < 1e-5, f"sampling output {i}: error {e:.3g}")
    print(f"  grid_sample (18 variants), topk, scatter, scatter_add, one_hot vs PyTorch: max relative error {worst:.3g}")
    # Bad indices and sizes fail naming the node, at prepare (K) or at run time (data-dependent indices).
    xin = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7])]
    yout = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    path = save_model(v, "topk_big", [helper.make_node("TopK", ["x", "k"], ["y", "i"])], xin, yout,
                      {"k": np.array([9], np.int64)}, opset=11)
    v.expect_error("TopK with K past the axis", "layers", path, contains="K = 9 is not in [0, 7]")
    nodes = [helper.make_node("ScatterElements", ["x", "idx", "x"], ["y"], axis=1)]
    path = save_model(v, "scatter_oob", nodes, xin, yout, {"idx": np.full((1, 7), 7, np.int64)}, opset=13)
    xp = v.save("scatter_oob_x.npy", np.zeros((1, 7), np.float32))
    v.expect_error("ScatterElements index out of range", "run", path, "--input", xp, "--out", v.path("scatter_oob"),
                   contains="index 7 out of range [-7, 7)")


def qconv_ref(x, xz, w, wz, stride, pad, groups):
    """Integer convolution of shifted operands (int64, exact): the oracle of ConvInteger / QLinearConv."""
    import torch
    xs = torch.from_numpy(x.astype(np.float64) - xz)
    ws = torch.from_numpy(w.astype(np.float64) - np.asarray(wz, np.float64).reshape(-1, 1, 1, 1))
    return torch.nn.functional.conv2d(xs, ws, stride=stride, padding=pad, groups=groups).numpy()


def requant(acc, mult, yz, dtype):
    lo, hi = (0, 255) if dtype == np.uint8 else (-128, 127)
    return np.clip(np.rint(acc.astype(np.float32) * mult) + np.float32(yz), lo, hi).astype(dtype)


def test_quantized(v):
    """Quantized models: a PyTorch post-training-quantized CNN exported in the QDQ form (QuantizeLinear /
    DequantizeLinear around float Conv/Gemm) equals the quantized PyTorch model; QLinearConv, ConvInteger,
    MatMulInteger and QLinearMatMul equal exact integer references (per-tensor and per-channel zero points,
    pads, strides, groups), requantized as onnxruntime does."""
    import torch
    import torch.nn as nn
    torch.backends.quantized.engine = "qnnpack"

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.dq = torch.ao.quantization.QuantStub(), torch.ao.quantization.DeQuantStub()
            self.c1, self.r = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
            self.c2, self.fc = nn.Conv2d(8, 8, 3, stride=2, groups=2), nn.Linear(8 * 7 * 7, 10)

        def forward(self, x):
            x = self.c2(self.r(self.c1(self.q(x))))
            return self.dq(self.fc(torch.flatten(x, 1)))

    torch.manual_seed(0)
    m = M().eval()
    m.qconfig = torch.ao.quantization.get_default_qconfig("qnnpack")
    torch.ao.quantization.prepare(m, inplace=True)
    for _ in range(4):
        m(torch.randn(8, 3, 16, 16))
    torch.ao.quantization.convert(m, inplace=True)
    x = torch.randn(16, 3, 16, 16)
    with torch.no_grad():
        want = m(x).numpy()
    path = v.path("qdq.onnx")
    torch.onnx.export(m, x, path, opset_version=13, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    outs, man = run_model(v, path, x.numpy(), capture="op:QuantizeLinear", batch=5)
    vtref.check(outs is not None, "QDQ model: ventral run failed")
    if outs is not None:
        step = float(m.fc.scale)
        off = np.abs(outs[0] - want) / step
        # The QDQ graph computes Conv/Gemm in float and rounds once per QuantizeLinear; PyTorch requantizes
        # integer sums: the two round differently near halves, by one step at most.
        vtref.check(off.max() <= 1.0001 and (off < 0.5).mean() >= 0.85,
                    f"QDQ model vs quantized PyTorch: {int((off >= 0.5).sum())} of {off.size} logits off, at most "
                    f"{off.max():.2f} steps")
        layers = [e for e in man if e["kind"] != "output"]
        kinds = {np.load(os.path.join(path + "_out", e["file"])).dtype.name for e in layers}
        vtref.check(kinds == {"uint8"}, f"captured QuantizeLinear layers hold {kinds}, not uint8")
        print(f"  QDQ CNN (PyTorch post-training quantization, qnnpack) vs PyTorch: {int((off >= 0.5).sum())} of "
              f"{off.size} logits differ, at most {off.max():.2f} quantization steps; {len(layers)} uint8 layers")

    # Integer ops against exact references.
    worst = 0
    for k, (dt, wdt, stride, pad, groups, per) in enumerate([(np.uint8, np.uint8, 1, 1, 1, False),
                                                              (np.uint8, np.int8, 2, 0, 2, True),
                                                              (np.int8, np.int8, 1, 2, 4, True)]):
        xq = RNG.integers(np.iinfo(dt).min, np.iinfo(dt).max + 1, (3, 8, 9, 11)).astype(dt)
        w = RNG.integers(np.iinfo(wdt).min, np.iinfo(wdt).max + 1, (12, 8 // groups, 3, 3)).astype(wdt)
        xz = np.array(RNG.integers(0, 60), dt)
        wz = (RNG.integers(-5, 6, 12) if per else np.array(RNG.integers(0, 9))).astype(wdt)
        if wdt == np.uint8:
            wz = np.abs(wz).astype(wdt)
        acc = qconv_ref(xq, float(xz), w, wz.astype(np.float64), stride, pad, groups)
        bias = RNG.integers(-3000, 3000, 12).astype(np.int32)
        xs, ws, ys = np.float32(0.02), (RNG.random(12) * 0.01 + 0.002).astype(np.float32), np.float32(0.7)
        yz = np.array(100 if dt == np.uint8 else -3, dt)
        wsv = ws if per else ws[:1].reshape(())
        mult = (xs * wsv.reshape(-1, 1, 1) / ys).astype(np.float32) if per else np.float32(xs * wsv / ys)
        want_q = requant(acc + bias.reshape(-1, 1, 1), mult, yz, dt)
        ttype = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}
        inits = {"w": w, "xz": xz, "wz": wz if per else wz.reshape(()), "xs": xs, "ws": wsv, "ys": ys, "yz": yz,
                 "b": bias}
        attrs = dict(kernel_shape=[3, 3], strides=[stride, stride], pads=[pad] * 4, group=groups)
        nodes = [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["acc"], **attrs),
                 helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], **attrs)]
        graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", ttype[dt], list(xq.shape))],
                                  [helper.make_tensor_value_info("acc", TensorProto.INT32, None),
                                   helper.make_tensor_value_info("y", ttype[dt], None)],
                                  initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 7
        qpath = v.path(f"qconv{k}.onnx")
        onnx.save_model(model, qpath)
        xp = v.save(f"qconv{k}_x.npy", xq)
        r = v.run("run", qpath, "--input", xp, "--out", v.path(f"qconv{k}_out"), "--capture", "none")
        if r.returncode != 0:
            vtref.check(False, f"qconv case {k}: ventral run failed")
            continue
        with open(os.path.join(v.path(f"qconv{k}_out"), "manifest.json")) as f:
            res = [np.load(os.path.join(v.path(f"qconv{k}_out"), e["file"])) for e in json.load(f)
                   if e["kind"] == "output"]
        vtref.check(np.array_equal(res[0], acc.astype(np.int32)), f"ConvInteger case {k}: differs from the exact sum")
        d = np.abs(res[1].astype(np.int64) - want_q)
        worst = max(worst, int(d.max()))
        vtref.check(d.max() == 0, f"QLinearConv case {k}: {int((d > 0).sum())} values differ")
    a = RNG.integers(0, 256, (2, 5, 40)).astype(np.uint8)
    b = RNG.integers(-128, 128, (40, 7)).astype(np.int8)
    az, bz = np.uint8(17), RNG.integers(-4, 5, 7).astype(np.int8)
    acc = np.matmul(a.astype(np.int64) - 17, b.astype(np.int64) - bz)
    mult = np.float32(np.float32(0.03) * np.float32(0.004) / np.float32(0.5))
    inits = {"b": b, "az": np.array(az), "bz": bz, "as": np.float32(0.03), "bs": np.float32(0.004),
             "ys": np.float32(0.5), "yz": np.uint8(128)}
    nodes = [helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["acc"]),
             helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])]
    graph = helper.make_graph(nodes, "qmm", [helper.make_tensor_value_info("a", TensorProto.UINT8, list(a.shape))],
                              [helper.make_tensor_value_info("acc", TensorProto.INT32, None),
                               helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
                              initializer=[numpy_helper.from_array(np.asarray(t), n) for n, t in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    qpath = v.path("qmm.onnx")
    onnx.save_model(model, qpath)
    r = v.run("run", qpath, "--input", v.save("qmm_a.npy", a), "--out", v.path("qmm_out"), "--capture", "none")
    if r.returncode == 0:
        with open(os.path.join(v.path("qmm_out"), "manifest.json")) as f:
            res = [np.load(os.path.join(v.path("qmm_out"), e["file"])) for e in json.load(f) if e["kind"] == "output"]
        vtref.check(np.array_equal(res[0], acc.astype(np.int32)), "MatMulInteger: differs from the exact product")
        vtref.check(np.array_equal(res[1], requant(acc, mult, 128, np.uint8)), "QLinearMatMul: differs")
    else:
        vtref.check(False, "MatMulInteger / QLinearMatMul: ventral run failed")
    print(f"  ConvInteger, QLinearConv (3 cases: uint8/int8, per-channel zero points, strides, pads, groups), "
          f"MatMulInteger, QLinearMatMul vs exact integer references: max difference {worst}")


def test_recurrent(v):
    """nn.LSTM (2 layers, bidirectional), nn.GRU (batch-first; exported with linear_before_reset) and nn.RNN
    (relu) as PyTorch exports them: outputs and final states equal PyTorch's, bit-identical over batch sizes."""
    import torch
    import torch.nn as nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
            self.gru = nn.GRU(6, 4, batch_first=True)
            self.rnn = nn.RNN(6, 3, nonlinearity="relu")

        def forward(self, x):
            y1, (h1, c1) = self.lstm(x)
            y2, h2 = self.gru(x)
            y3, h3 = self.rnn(x.transpose(0, 1))
            return y1, h1.transpose(0, 1), c1.transpose(0, 1), y2, h2.transpose(0, 1), y3.transpose(0, 1)

    torch.manual_seed(0)
    m = M().eval()
    x = torch.randn(5, 7, 6)
    with torch.no_grad():
        want = [r.numpy() for r in m(x)]
    path = v.path("recurrent.onnx")
    torch.onnx.export(m, x, path, opset_version=14, input_names=["x"],
                      output_names=[f"y{i}" for i in range(len(want))],
                      dynamic_axes={"x": {0: "N"}, **{f"y{i}": {0: "N"} for i in range(len(want))}})
    worst, runs = 0.0, []
    for batch in (5, 2):
        outs, _ = run_model(v, path, x.numpy(), capture="none", batch=batch)
        vtref.check(outs is not None and len(outs) == len(want), f"recurrent model, batch {batch}: ventral run failed")
        runs.append(outs or [])
        for i, ref in enumerate(want):
            got = outs[i] if outs and i < len(outs) else None
            e = rel_err(got, ref) if got is not None and got.shape == ref.shape else float("inf")
            worst = max(worst, e)
            vtref.check(e < 1e-5, f"recurrent output {i}, batch {batch}: error {e:.3g}")
    vtref.check(len(runs[0]) == len(runs[1]) and all(np.array_equal(a, b) for a, b in zip(*runs)),
                "recurrent outputs bit-identical for batch sizes 5 and 2")
    print(f"  LSTM (2 layers, bidirectional), GRU, RNN vs PyTorch: max relative error {worst:.3g}")


def test_small_integers(v):
    """Element-wise ops on 8/16-bit and unsigned integers wrap as numpy's do; uint64 arithmetic, division, Mod,
    Max and comparisons on values above 2^63 (and a zero divisor); int64 Equal above 2^53; BitShift on uint64
    values above 2^63 and shifts past the width; Clip on int8."""
    cases = [  # (op, dtype, attrs, numpy reference of (a, b))
        ("Add", np.uint8, {}, lambda a, b: a + b),
        ("Mul", np.int8, {}, lambda a, b: a * b),
        ("Sub", np.uint16, {}, lambda a, b: a - b),
        ("Max", np.int16, {}, np.maximum),
        ("BitShift", np.uint64, {"direction": "RIGHT"}, lambda a, b: np.right_shift(a, b)),
        ("BitShift", np.uint8, {"direction": "LEFT"}, lambda a, b: np.left_shift(a, b)),
        ("Add", np.uint64, {}, lambda a, b: a + b),
        ("Mul", np.uint64, {}, lambda a, b: a * b),
        ("Div", np.uint64, {}, lambda a, b: np.where(b == 0, 0, a // np.where(b == 0, 1, b))),
        ("Mod", np.uint64, {}, lambda a, b: np.where(b == 0, 0, a % np.where(b == 0, 1, b))),
        ("Max", np.uint64, {}, np.maximum),
        ("Less", np.uint64, {}, np.less),
        ("Equal", np.int64, {}, np.equal),  # exactly, above 2^53
    ]
    ttype = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8, np.uint16: TensorProto.UINT16,
             np.int16: TensorProto.INT16, np.uint64: TensorProto.UINT64, np.int64: TensorProto.INT64,
             np.bool_: TensorProto.BOOL}
    for i, (op, dt, attrs, ref) in enumerate(cases):
        info = np.iinfo(dt)
        if dt == np.int64:
            info = np.iinfo(np.int32)
        a = RNG.integers(info.min, info.max, (4, 9), dtype=dt, endpoint=True)
        if dt == np.uint64:
            a[0, :4] = np.array([2**64 - 1, 2**63, 2**63 + 5, 1], np.uint64)
        b = (RNG.integers(0, 8, 9) if op == "BitShift" else
             RNG.integers(info.min, info.max, 9, dtype=dt, endpoint=True)).astype(dt)
        if dt == np.uint64 and op != "BitShift":
            b[:3] = np.array([2**63 + 1, 3, 0], np.uint64)  # above 2^63, small, and a zero divisor
            a[1, :3] = b[:3]
        if dt == np.int64:
            a[0, :2], b[:2] = 2**53 + 1, 2**53  # equal as doubles, not as integers
            a[1, 2], b[2] = 7, 7
        with np.errstate(over="ignore"):
            want = ref(a, b)
        want = want.astype(dt) if want.dtype != bool else want
        path = save_model(v, f"smallint{i}", [helper.make_node(op, ["a", "b"], ["y"], **attrs)],
                          [helper.make_tensor_value_info("a", ttype[dt], ["N", 9])],
                          [helper.make_tensor_value_info("y", ttype[want.dtype.type], None)], {"b": b})
        r = v.run("run", path, "--input", v.save(f"smallint{i}.npy", a), "--out", v.path(f"smallint{i}_out"),
                  "--capture", "none")
        got = None
        if r.returncode == 0:
            with open(os.path.join(v.path(f"smallint{i}_out"), "manifest.json")) as f:
                got = [np.load(os.path.join(v.path(f"smallint{i}_out"), e["file"])) for e in json.load(f)
                       if e["kind"] == "output"][0]
        vtref.check(got is not None and got.dtype == want.dtype and np.array_equal(got, want),
                    f"{op} on {np.dtype(dt).name}: differs from numpy")
    print(f"  {len(cases)} integer element-wise cases (wrap-around, uint64 past 2^63, shifts) equal numpy")


def test_losses(v):
    """F.cross_entropy (SoftmaxCrossEntropyLoss) and F.nll_loss (NegativeLogLikelihoodLoss) as PyTorch exports
    them: class weights, ignore_index, reductions none / sum / mean, N x C and N x C x d1 x d2 inputs."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class M(nn.Module):
        def forward(self, x):
            t = torch.clamp((x[:, 0] * 2 + 2).floor(), 0, 4).long()  # N x 3 x 4 targets in [0, 5)
            w = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.25])
            return (F.cross_entropy(x, t), F.cross_entropy(x, t, weight=w, ignore_index=2, reduction="sum"),
                    F.cross_entropy(x[:, :, 0, 0], t[:, 0, 0], reduction="none"),
                    F.nll_loss(F.log_softmax(x, 1), t, weight=w, ignore_index=1),
                    F.nll_loss(F.log_softmax(x, 1), t, reduction="none"))

    torch.manual_seed(0)
    outs, want = export_and_run(v, "losses", M(), torch.randn(6, 5, 3, 4), 13, batch=6)
    worst = 0.0
    for i, ref in enumerate(want):
        got = outs[i] if outs and i < len(outs) else None
        e = rel_err(got.reshape(ref.shape), ref) if got is not None and got.size == ref.size else float("inf")
        worst = max(worst, e)
        vtref.check(e < 1e-5, f"loss output {i}: error {e:.3g}")
    print(f"  cross_entropy / nll_loss (weights, ignore_index, reductions) vs PyTorch: max relative error {worst:.3g}")


def test_control_flow(v):
    """If and Loop as torch.jit.script exports Python control flow, against PyTorch, for both branches: a
    data-dependent branch (If on a condition known only at run time) and a loop over the batch size (Loop, its
    count from Shape) whose body holds another If on the iteration number; the bodies read values of the
    enclosing graphs (x, y, the weight) by name."""
    import torch

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(5, 5) * 0.3)

        def forward(self, x):
            if bool(x.sum() > 0):
                y = x * 2.0
            else:
                y = x - 1.0
            h = torch.zeros_like(x)
            for i in range(x.size(0) + 1):
                h = torch.tanh(h @ self.w + x)
                if i % 2 == 0:
                    h = h + y
                else:
                    h = h * 0.5
            return y, h

    torch.manual_seed(0)
    m = torch.jit.script(M())
    worst = 0.0
    for sign in (1.0, -1.0):
        torch.manual_seed(1)
        x = (torch.rand(3, 5) + 0.1) * sign
        outs, want = export_and_run(v, "control_flow", m, x, 13)
        for i, ref in enumerate(want):
            got = outs[i] if outs and i < len(outs) else None
            e = rel_err(got, ref) if got is not None and got.shape == ref.shape else float("inf")
            worst = max(worst, e)
            vtref.check(e < 1e-5, f"control flow (x {'>' if sign > 0 else '<'} 0) output {i}: error {e:.3g}")
    print(f"  scripted if / for (If, Loop, nested If, outer-scope values) vs PyTorch: max relative error {worst:.3g}")

    # Scan 9 along axis 1, both ways round (input read backwards, output stacked backwards along axis 1),
    # against a numpy loop: a running sum of the columns of x and the state times 2 per step.
    f = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "xt"], ["s_out"]), helper.make_node("Add", ["s_out", "s_out"], ["y"])],
        "scan_body", [helper.make_tensor_value_info("s", f, [3]), helper.make_tensor_value_info("xt", f, [3])],
        [helper.make_tensor_value_info("s_out", f, [3]), helper.make_tensor_value_info("y", f, [3])])
    nodes = [helper.make_node("Constant", [], ["s0"], value=numpy_helper.from_array(np.array([1, 2, 3], np.float32))),
             helper.make_node("Scan", ["s0", "x"], ["s_end", "ys"], num_scan_inputs=1, body=body,
                              scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[-1],
                              scan_output_directions=[1])]
    p = save_model(v, "scan_axes", nodes, [helper.make_tensor_value_info("x", f, [3, 4])],
                   [helper.make_tensor_value_info("s_end", f, None), helper.make_tensor_value_info("ys", f, None)], {})
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    outs, _ = run_model(v, p, x, capture="none")
    st, ys = np.array([1, 2, 3], np.float32), np.zeros((3, 4), np.float32)
    for t in range(4):
        st = st + x[:, 3 - t]
        ys[:, 3 - t] = st + st
    vtref.check(outs is not None and np.array_equal(outs[0], st) and np.array_equal(outs[1], ys),
                "Scan with axes and directions: differs from the numpy loop")

    # What static shapes cannot express is refused in one line naming the node: branches of different shapes
    # under a run-time condition, and scan outputs of a loop whose condition may end it early.
    xin = [helper.make_tensor_value_info("x", f, [2, 3])]
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", f, None)])
    other = helper.make_graph([helper.make_node("Constant", [], ["e"], value=numpy_helper.from_array(
        np.zeros(3, np.float32)))], "else", [], [helper.make_tensor_value_info("e", f, None)])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.float32(0))),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then, else_branch=other)]
    p = save_model(v, "if_shapes", nodes, xin, [helper.make_tensor_value_info("y", f, None)], {})
    x = v.save("if_x.npy", np.ones((2, 3), np.float32))
    r = v.expect_error("If with branches of different shapes", "run", p, "--input", x, "--out", v.path("o_if"),
                       contains="'branch' (If, opset 13)")
    vtref.check("else_branch" in r.stderr and len(r.stderr.strip().splitlines()) == 1, "one line naming the branch")
    body = helper.make_graph(
        [helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.int64(2))),
         helper.make_node("Less", ["i", "two"], ["c_out"]), helper.make_node("Add", ["h", "x"], ["h_out"]),
         helper.make_node("Identity", ["h_out"], ["scan"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []), helper.make_tensor_value_info("h", f, None)],
        [helper.make_tensor_value_info(n, t, None) for n, t in (("c_out", TensorProto.BOOL), ("h_out", f),
                                                                 ("scan", f))])
    nodes = [helper.make_node("Constant", [], ["m"], value=numpy_helper.from_array(np.int64(5))),
             helper.make_node("Loop", ["m", "", "x"], ["h_end", "hs"], name="loop", body=body)]
    p = save_model(v, "loop_early", nodes, xin, [helper.make_tensor_value_info("hs", f, None)], {})
    v.expect_error("Loop with scan outputs that may end early", "run", p, "--input", x, "--out", v.path("o_loop"),
                   contains="'loop' (Loop, opset 13): its body's condition may end the loop early")
    print("  Scan with input/output axes and directions equals a numpy loop; If with branches of different shapes "
          "and Loop scan outputs of a loop that may end early refused")


def test_matmul(v):
    worst = 0.0
    cases = [((2, 3, 5, 7), (7, 4)), ((3, 1, 6, 8), (1, 4, 8, 5)), ((7,), (2, 7, 3)), ((4, 6), (6,)),
             ((2, 9, 16), (2, 16, 12))]
    for i, (sa, sb) in enumerate(cases):
        b = RNG.standard_normal(sb).astype(np.float32)
        node = helper.make_node("MatMul", ["x", "b"], ["y"])
        path = save_model(v, f"mm{i}", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {"b": b})
        # The CLI feeds a stimulus axis: use a = x itself (its first dim is the "batch").
        a = RNG.standard_normal(sa).astype(np.float32)
        outs, _ = run_model(v, path, a, capture="none", batch=max(1, sa[0]))
        ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
        if outs is None:
            continue
        e = rel_err(outs[0], ref)
        worst = max(worst, e)
        vtref.check(outs[0].shape == ref.shape and e < 1e-5, f"matmul case {i}: {outs[0].shape} vs {ref.shape}, "
                                                              f"error {e:.3g}")
    for i, (ta, tb, alpha, beta, cshape) in enumerate([(0, 1, 1.0, 1.0, (6,)), (1, 0, 0.5, 2.0, (5, 6)),
                                                       (1, 1, 1.0, 1.0, (1, 6)), (0, 0, 1.0, 1.0, None)]):
        M, K, N = 5, 9, 6
        a = RNG.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = RNG.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        inits = {"b": b}
        inputs = ["x", "b"]
        if cshape:
            inits["c"] = RNG.standard_normal(cshape).astype(np.float32)
            inputs.append("c")
        node = helper.make_node("Gemm", inputs, ["y"], transA=ta, transB=tb, alpha=alpha, beta=beta)
        path = save_model(v, f"gemm{i}", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        outs, _ = run_model(v, path, a, capture="none", batch=a.shape[0])
        A = a.T if ta else a
        B = b.T if tb else b
        ref = alpha * (A.astype(np.float64) @ B) + (beta * inits["c"] if cshape else 0)
        if outs is None:
            continue
        e = rel_err(outs[0], ref)
        worst = max(worst, e)
        vtref.check(outs[0].shape == ref.shape and e < 1e-5, f"gemm case {i}: error {e:.3g}")
    print(f"  MatMul/Gemm vs numpy: max relative error {worst:.3g}")


def conv_mlp_model(v, name, external=False):
    w1 = RNG.standard_normal((16, 3, 3, 3)).astype(np.float32)
    w2 = RNG.standard_normal((16 * 8 * 8, 10)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2],
                              name="conv"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
             helper.make_node("Flatten", ["r1"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "w2"], ["y"], name="fc")]
    return save_model(v, name, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], {"w1": w1, "w2": w2},
                      external=external)


def test_determinism_external(v):
    path = conv_mlp_model(v, "mlp")
    x = RNG.standard_normal((5, 3, 16, 16)).astype(np.float32)
    base, _ = run_model(v, path, x, batch=5, env={"VENTRAL_THREADS": "2"})
    same = True
    for batch, threads in [(1, "2"), (3, "2"), (5, "1"), (2, "1")]:
        o, _ = run_model(v, path, x, batch=batch, env={"VENTRAL_THREADS": threads})
        same = same and o is not None and base is not None and o[0].tobytes() == base[0].tobytes()
    vtref.check(same, "conv+matmul output differs across batch sizes 1/2/3/5 or threads 1/2")
    print(f"  batch sizes 1/2/3/5, threads 1/2: {'bit-identical' if same else 'DIFFERENT'}")
    ext = conv_mlp_model(v, "mlp_ext", external=True)
    vtref.check(os.path.exists(v.path("mlp_ext.weights")), "external data file was written")
    model = onnx.load(ext)  # loads the external weights too
    w1 = numpy_helper.to_array(model.graph.initializer[0]).copy()
    w2 = numpy_helper.to_array(model.graph.initializer[1]).copy()
    o, _ = run_model(v, ext, x)
    import torch
    import torch.nn.functional as F
    ref = F.relu(F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w1).double(), stride=2, padding=1))
    ref = ref.reshape(5, -1).numpy() @ w2.astype(np.float64)
    if o is not None:
        vtref.check(rel_err(o[0], ref) < 1e-5, "external-data model output")
        print(f"  external data: relative error {rel_err(o[0], ref):.3g}")


def test_errors(v):
    path = conv_mlp_model(v, "errs")
    data = open(path, "rb").read()
    trunc = v.path("truncated.onnx")
    open(trunc, "wb").write(data[: len(data) // 2])
    v.expect_error("truncated model", "layers", trunc, contains="truncated")
    junk = v.path("junk.onnx")
    open(junk, "wb").write(bytes(RNG.integers(0, 256, 1000, dtype=np.uint8)))
    v.expect_error("corrupt model", "layers", junk, contains="junk.onnx")
    v.expect_error("missing model", "layers", v.path("nope.onnx"), contains="nope.onnx")
    node = helper.make_node("NonZero", ["x"], ["y"], name="nz")
    p = save_model(v, "nonzero", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                   [helper.make_tensor_value_info("y", TensorProto.INT64, None)], {})
    r = v.expect_error("unsupported op", "layers", p, contains="NonZero")
    vtref.check("'nz'" in r.stderr and "opset 13" in r.stderr, "the error names the node and the opset")
    node = helper.make_node("FancyOp", ["x"], ["y"], name="f", domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    p = v.path("custom.onnx")
    onnx.save_model(m, p)
    v.expect_error("custom domain", "layers", p, contains="com.example")
    node = helper.make_node("Relu", ["x"], ["y"])
    for opset in (19,):
        p = save_model(v, f"opset{opset}", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {}, opset=opset)
        v.expect_error(f"opset {opset}", "layers", p, contains=f"opset {opset}")
    x = v.save("wrong.npy", RNG.standard_normal((2, 4, 16, 16)).astype(np.float32))
    v.expect_error("input shape mismatch", "run", path, "--input", x, "--out", v.path("o_err"), contains="dimension")
    v.expect_error("bad capture spec", "layers", path, "--capture", "bogus:1", contains="bogus")
    v.expect_error("bad precision", "run", path, "--input", x, "--out", v.path("o_err"), "--precision", "f8",
                   contains="precision")


def test_layers_capture(v):
    path = conv_mlp_model(v, "lay")
    r = v.run("layers", path, "--input-shape", "4,3,16,16")
    rows = [line.split() for line in r.stdout.strip().splitlines()[1:]]
    print("  " + "\n  ".join(r.stdout.strip().splitlines()))
    vtref.check([row[2] for row in rows] == ["Conv", "Relu", "Flatten", "MatMul"], "layers lists the four ops")
    vtref.check(rows[0][3] == "4x16x8x8" and rows[0][4] == "1024", "conv row: shape 4x16x8x8, 1024 features")
    vtref.check(rows[3][3] == "4x10" and rows[3][4] == "10", "fc row: shape 4x10, 10 features")
    x = RNG.standard_normal((3, 3, 16, 16)).astype(np.float32)
    for spec, want in [("op:Conv", ["conv"]), ("op:Relu,op:MatMul", ["relu", "fc"]), ("index:1-2", ["relu", "flatten"]),
                       ("name:f*", ["flatten", "fc"]), ("none", []), ("all", ["conv", "relu", "flatten", "fc"])]:
        _, man = run_model(v, path, x, capture=spec)
        got = [e["name"] for e in man if e["kind"] == "layer"] if man else None
        vtref.check(got == want, f"--capture {spec}: {got} != {want}")
    _, man = run_model(v, path, x, capture="op:Conv")
    conv = [e for e in man if e["kind"] == "layer"][0]
    vtref.check(conv["shape"] == [3, 16, 8, 8] and conv["op"] == "Conv" and conv["index"] == 0,
                "manifest entry of the conv layer")


def maxpool_ref(x, k, s, pad, ceil):
    """The taps of each window in row-major order: v replaces the running maximum m when v > m or v is NaN."""
    n, c, h, w = x.shape
    def out(size):
        span = size + 2 * pad - k
        return (-(-span // s) if ceil else span // s) + 1
    oh, ow = out(h), out(w)
    xp = np.full((n, c, (oh - 1) * s + k, (ow - 1) * s + k), -np.inf, np.float32)
    xp[:, :, pad:pad + h, pad:pad + w] = x[:, :, :xp.shape[2] - pad, :xp.shape[3] - pad]
    m = np.full((n, c, oh, ow), -np.inf, np.float32)
    for kh in range(k):
        for kw in range(k):
            v = xp[:, :, kh:kh + (oh - 1) * s + 1:s, kw:kw + (ow - 1) * s + 1:s]
            m = np.where((v > m) | np.isnan(v), v, m)
    return m


def test_maxpool(v):
    vals = np.array([-1.0, -0.0, 0.0, 1.0, 1.0, -0.0, 0.0, 2.0], np.float32)
    x = vals[RNG.integers(0, 8, (2, 3, 37, 75))]
    nan = RNG.random(x.shape) < 0.01
    x[nan] = np.where(RNG.random(int(nan.sum())) < 0.5, np.float32(np.nan), -np.float32(np.nan))
    for i, (k, s, pad, ceil) in enumerate([(3, 2, 1, 0), (3, 2, 0, 1), (2, 2, 0, 0), (3, 1, 1, 0)]):
        node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4,
                                ceil_mode=ceil)
        path = save_model(v, f"maxpool{i}", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {})
        outs, _ = run_model(v, path, x, capture="none", batch=2)
        ref = maxpool_ref(x, k, s, pad, ceil)
        same = outs is not None and outs[0].shape == ref.shape and np.array_equal(outs[0].view(np.uint32),
                                                                                   ref.view(np.uint32))
        vtref.check(same, f"maxpool k={k} s={s} pad={pad} ceil={ceil}: not the bits of the row-major loop")
    print("  MaxPool (3x3/2, 3x3/2 ceil, 2x2/2, 3x3/1) on 37 x 75 planes: bit-identical to the row-major loop")


def test_pool_indices(v):
    """F.max_pool1d/2d/3d with return_indices (MaxPool's Indices output, which PyTorch's export turns into
    per-plane indices), F.max_unpool2d (MaxUnpool, with and without output_size) as PyTorch exports them;
    indices must be exact, values bit-identical."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class M(nn.Module):
        def forward(self, x):
            y2, i2 = F.max_pool2d(x, 3, 2, 1, return_indices=True)
            yc, ic = F.max_pool2d(x, 2, 2, 0, ceil_mode=True, return_indices=True)
            y1, i1 = F.max_pool1d(x.flatten(2), 4, 3, return_indices=True)
            y3, i3 = F.max_pool3d(x.unsqueeze(1), 2, 2, return_indices=True)
            return (y2, i2, yc, ic, y1, i1, y3, i3)

    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 11)
    x[0, 0, :3, :3] = 1.5  # ties: the first maximum wins on both sides
    outs, want = export_and_run(v, "pool_indices", M(), x, 13, batch=2)
    for i, ref in enumerate(want):
        got = outs[i] if outs and i < len(outs) else None
        same = got is not None and got.shape == ref.shape and np.array_equal(got, ref)
        vtref.check(same, f"pooling with indices output {i}: not equal to PyTorch's")
    # MaxUnpool (PyTorch 1.13 cannot export max_unpool2d): MaxPool -> MaxUnpool against F.max_unpool2d, and
    # with an output_shape larger than the inferred one (the values keep their coordinates: ONNX's reading)
    xe = x[:, :, :8, :10].contiguous()
    nodes = [helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("MaxUnpool", ["p", "i"], ["y0"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("MaxUnpool", ["p", "i", "shape"], ["y1"], kernel_shape=[2, 2], strides=[2, 2])]
    path = save_model(v, "maxunpool", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                      [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y0", "y1")],
                      {"shape": np.array([2, 3, 9, 12], np.int64)})
    outs, _ = run_model(v, path, xe.numpy(), capture="none", batch=2)
    ref = F.max_unpool2d(*F.max_pool2d(xe, 2, 2, return_indices=True), 2, 2).numpy()
    big = np.zeros((2, 3, 9, 12), np.float32)
    big[:, :, :8, :10] = ref
    ok = outs is not None and np.array_equal(outs[0], ref) and np.array_equal(outs[1], big)
    vtref.check(ok, "MaxUnpool: not equal to F.max_unpool2d")
    print("  max_pool1d/2d/3d with indices (ceil mode, ties) and MaxUnpool (with and without output_shape): "
          "values and indices equal to PyTorch's")


def test_old_opsets(v):
    """Opsets 1-5, as the ONNX model zoo's caffe2-converted classics (opset 3) write them: ImageScaler,
    BatchNormalization with is_test and consumed_inputs, Add with broadcast=1 at axis 1, Concat without an
    axis, Dropout with is_test, Reshape's shape attribute, Gemm with broadcast; at opset 1 Cast's type name,
    Pad's paddings and Split's split input. References: PyTorch's functional ops and numpy, in float64."""
    import torch
    import torch.nn.functional as F
    f = lambda *s: RNG.standard_normal(s).astype(np.float32)
    w1, b1, w2, b2, fc, fcb = f(6, 3, 3, 3), f(6), f(5, 6, 3, 3), f(5), f(4, 11 * 3 * 3) * 0.05, f(4)
    gamma, beta, mean, var = f(6), f(6), f(6), np.abs(f(6)) + 0.5
    bias = [0.1, -0.2, 0.3]
    nodes = [helper.make_node("ImageScaler", ["x"], ["s"], scale=0.5, bias=bias),
             helper.make_node("Conv", ["s", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn"], is_test=1,
                              epsilon=1e-3, consumed_inputs=[0, 0, 0, 1, 1]),
             helper.make_node("Relu", ["bn"], ["r"], consumed_inputs=[0]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("LRN", ["p"], ["l"], size=3, alpha=1e-3, beta=0.75, bias=1.0),
             helper.make_node("Conv", ["l", "w2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "b2"], ["a"], broadcast=1, axis=1),
             helper.make_node("Concat", ["a", "p"], ["cat"]),
             helper.make_node("Dropout", ["cat"], ["d"], is_test=1, ratio=0.5),
             helper.make_node("Reshape", ["d"], ["fl"], shape=[0, -1]),
             helper.make_node("Gemm", ["fl", "fc", "fcb"], ["z"], broadcast=1, transB=1),
             helper.make_node("Softmax", ["z"], ["y"])]
    inits = {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "fc": fc, "fcb": fcb, "g": gamma, "be": beta, "mu": mean,
             "var": var}
    path = save_model(v, "opset3", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 6, 6])],
                      [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("z", "y")], inits,
                      opset=3)
    x = f(2, 3, 6, 6)
    outs, _ = run_model(v, path, x, capture="none", batch=2)
    t = lambda a: torch.from_numpy(np.asarray(a, np.float64))
    with torch.no_grad():
        s_ = t(x) * 0.5 + t(bias).view(1, 3, 1, 1)
        r = F.relu(F.batch_norm(F.conv2d(s_, t(w1), t(b1), padding=1), t(mean), t(var), t(gamma), t(beta),
                                eps=1e-3))
        p_ = F.max_pool2d(r, 2, 2)
        l_ = F.local_response_norm(p_, 3, alpha=1e-3, beta=0.75, k=1.0)
        a_ = F.conv2d(l_, t(w2), padding=1) + t(b2).view(1, 5, 1, 1)
        z = torch.cat([a_, p_], 1).flatten(1) @ t(fc).T + t(fcb)
        refs = [z.numpy(), torch.softmax(z, 1).numpy()]
    e = max(rel_err(o, r) for o, r in zip(outs, refs)) if outs else float("inf")
    vtref.check(e < 1e-5, f"opset-3 caffe2-style network: error {e:.3g}")

    nodes = [helper.make_node("Pad", ["x"], ["pd"], paddings=[0, 0, 1, 2, 0, 0, 2, 1], value=1.5),
             helper.make_node("Split", ["pd", "sizes"], ["u", "w"], axis=3),
             helper.make_node("Concat", ["w", "u"], ["cc"], axis=3),
             helper.make_node("Reshape", ["cc"], ["rs"], shape=[0, -1]),
             helper.make_node("Cast", ["rs"], ["y"], to="DOUBLE")]
    path = save_model(v, "opset1", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 3, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                      {"sizes": np.array([3, 4], np.int64)}, opset=1)
    x = f(2, 2, 3, 4)
    outs, _ = run_model(v, path, x, capture="none", batch=2)
    pd = np.pad(x, [(0, 0), (0, 0), (1, 2), (2, 1)], constant_values=1.5)
    ref = np.concatenate([pd[..., 3:], pd[..., :3]], 3).reshape(2, -1).astype(np.float64)
    ok = outs is not None and outs[0].dtype == np.float64 and np.array_equal(outs[0], ref)
    vtref.check(ok, "opset-1 Pad / Split / Concat / Reshape / Cast: not equal to numpy")

    # Forms that are not built, or that ask for training: refused naming node, op and opset.
    x_info = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 4])]
    y_info = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    bad = [("tile1", helper.make_node("Tile", ["x", "k", "k"], ["y"], name="t"), {"k": np.array([2], np.int64)}, 5,
            "opset 5"),
           ("dropout_train", helper.make_node("Dropout", ["x"], ["y"], name="dr"), {}, 3, "is_test"),
           ("bn_train", helper.make_node("BatchNormalization", ["x", "g", "g", "g", "g"], ["y"], name="bn"),
            {"g": np.ones(3, np.float32)}, 6, "is_test")]
    for name, node, init, opset, what in bad:
        p = save_model(v, name, [node], x_info, y_info, init, opset=opset)
        v.expect_error(name, "run", p, "--input", v.save(name + "_x.npy", f(2, 3, 4, 4)), "--out",
                       v.path(name + "_o"), contains=what)
    print(f"  opsets 1-5 (caffe2-style opset-3 CNN vs PyTorch: max relative error {e:.3g}; opset-1 Pad, Split, "
          "Concat, Reshape, Cast equal to numpy; Tile-1 and training-mode is_test refused)")


def test_data_dependent(v):
    """NonZero, Unique and Compress, whose output lengths depend on values: torch.nonzero / torch.unique /
    masked_select as PyTorch exports them (the values deciding a length are computed from the input, which is
    then folded at prepare, per run) against PyTorch; Unique with an axis, unsorted, and Compress on a computed
    input against numpy."""
    import torch
    import torch.nn as nn

    class M(nn.Module):
        def forward(self, x):
            r = (x * 2).round()
            u, inv, cnt = torch.unique(r, sorted=True, return_inverse=True, return_counts=True)
            return torch.nonzero(x > 0.5), u, inv, cnt, torch.masked_select(x, x < -0.7)

    torch.manual_seed(0)
    x = torch.randn(2, 3, 5)
    outs, want = export_and_run(v, "data_dependent", M(), x, 13, batch=2)
    want[2] = want[2].ravel()  # ONNX's inverse_indices are 1-D (the exporter adds no reshape to torch's shape)
    for i, ref in enumerate(want):
        got = outs[i] if outs and i < len(outs) else None
        same = got is not None and got.shape == ref.shape and np.array_equal(got, ref)
        vtref.check(same, f"data-dependent output {i}: not equal to PyTorch's")

    xs = np.round(RNG.standard_normal((4, 3, 2)) * 0.6).astype(np.float32)
    xs[2] = xs[0]  # a repeated slice along axis 0
    cond = np.array([True, False, True], bool)
    nodes = [helper.make_node("Unique", ["x"], ["u", "i", "inv", "cnt"], axis=0, sorted=1),
             helper.make_node("Unique", ["x"], ["u2", "i2", "inv2", "cnt2"], sorted=0),
             helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Compress", ["r", "cond"], ["c"], axis=1),
             helper.make_node("Compress", ["r", "cond"], ["c2"])]
    names = ["u", "i", "inv", "cnt", "u2", "i2", "inv2", "cnt2", "c", "c2"]
    path = save_model(v, "unique_compress", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                      [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in names],
                      {"cond": cond})
    outs, _ = run_model(v, path, xs, capture="none", batch=4)
    u, i, inv, cnt = np.unique(xs, axis=0, return_index=True, return_inverse=True, return_counts=True)
    flat = xs.ravel()
    fu, fi, finv, fcnt = np.unique(flat, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(fi, kind="stable")  # unsorted: order of first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    r = np.maximum(xs, 0)
    refs = [u, i, inv.ravel(), cnt, fu[order], fi[order], rank[finv], fcnt[order], np.compress(cond, r, axis=1),
            np.compress(cond, r.ravel())]
    for k, ref in enumerate(refs):
        got = outs[k] if outs and k < len(outs) else None
        same = got is not None and got.shape == ref.shape and np.array_equal(got, ref)
        vtref.check(same, f"Unique / Compress output {names[k]}: not equal to numpy's")
    print("  torch.nonzero / unique (sorted, inverse, counts) / masked_select equal to PyTorch's; Unique with an axis "
          "and unsorted, Compress with and without an axis equal to numpy's")


def test_det_reverse_sequence(v):
    """torch.linalg.det (Det) as PyTorch exports it, on singular and permuted matrices, against PyTorch in
    float64; ReverseSequence (both axis layouts) against numpy."""
    import torch
    import torch.nn as nn

    class M(nn.Module):
        def forward(self, x):
            return (torch.linalg.det(x[:, 0]),)

    x = torch.from_numpy(RNG.standard_normal((3, 2, 4, 4)).astype(np.float32))
    x[1, 0, 3] = x[1, 0, 0] * 2  # singular
    x[2, 0] = x[2, 0][[2, 0, 3, 1]]  # rows permuted: the pivots' sign
    outs, want = export_and_run(v, "det", M(), x, 13, batch=3)
    ref = torch.linalg.det(x[:, 0].double()).numpy()
    e = float(np.abs(outs[0] - ref).max() / np.abs(ref).max()) if outs else float("inf")
    vtref.check(e < 1e-6, f"Det: error {e:.3g}")
    xs = RNG.standard_normal((5, 4, 3)).astype(np.float32)
    lens = np.array([4, 0, 1, 3], np.int64)
    node = helper.make_node("ReverseSequence", ["x", "lens"], ["y"], batch_axis=1, time_axis=0)
    path = save_model(v, "revseq", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {"lens": lens})
    got, _ = run_model(v, path, xs, capture="none", batch=5)
    ref2 = xs.copy()
    for b, n in enumerate(lens):
        ref2[:n, b] = xs[:n, b][::-1]
    vtref.check(got is not None and np.array_equal(got[0], ref2), "ReverseSequence: not equal to numpy")
    print(f"  torch.linalg.det vs PyTorch float64: max relative error {e:.3g} (singular and permuted cases); "
          "ReverseSequence equal to numpy")


def roi_align_max_ref(x, rois, bidx, oh, ow, scale, ratio, half_pixel):
    """RoiAlign's max mode as the ONNX specification's reference defines it, written out with numpy: per bin,
    the largest of the four weighted corner pixels over its samples (torchvision has no max mode)."""
    n_r, ch, h, w = len(rois), x.shape[1], x.shape[2], x.shape[3]
    out = np.zeros((n_r, ch, oh, ow), np.float64)
    f = np.float32
    for r in range(n_r):
        off = f(0.5) if half_pixel else f(0)
        x0, y0, x1, y1 = (f(c) * f(scale) - off for c in rois[r])
        rw, rh = x1 - x0, y1 - y0
        if not half_pixel:
            rw, rh = max(rw, f(1)), max(rh, f(1))
        bh, bw = rh / f(oh), rw / f(ow)
        gh = ratio if ratio > 0 else int(np.ceil(rh / f(oh)))
        gw = ratio if ratio > 0 else int(np.ceil(rw / f(ow)))
        img = x[bidx[r]].astype(np.float64)
        for ph in range(oh):
            for pw in range(ow):
                best = np.full(ch, -np.inf)
                for iy in range(gh):
                    yy = y0 + f(ph) * bh + (f(iy) + f(0.5)) * bh / f(gh)
                    for ix in range(gw):
                        xx = x0 + f(pw) * bw + (f(ix) + f(0.5)) * bw / f(gw)
                        if yy < -1 or yy > h or xx < -1 or xx > w:
                            best = np.maximum(best, 0)
                            continue
                        yc, xc = max(yy, f(0)), max(xx, f(0))
                        ya, xa = min(int(yc), h - 1), min(int(xc), w - 1)
                        yb, xb = min(ya + 1, h - 1), min(xa + 1, w - 1)
                        yc, xc = (f(ya) if ya == h - 1 else yc), (f(xa) if xa == w - 1 else xc)
                        ly, lx = yc - f(ya), xc - f(xa)
                        corners = [(1 - ly) * (1 - lx) * img[:, ya, xa], (1 - ly) * lx * img[:, ya, xb],
                                   ly * (1 - lx) * img[:, yb, xa], ly * lx * img[:, yb, xb]]
                        best = np.maximum(best, np.max(corners, axis=0))
                out[r, :, ph, pw] = best if gh * gw else 0
    return out


def nms_ref(boxes_xyxy, scores, max_per_class, iou, score_threshold):
    """NonMaxSuppression's selected (batch, class, box) triples from torchvision.ops.nms, one batch and class at
    a time: boxes scoring above the threshold, at most max_per_class of them."""
    import torch
    import torchvision
    rows = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            keep = np.nonzero(scores[b, c] > score_threshold)[0] if score_threshold is not None else \
                np.arange(scores.shape[2])
            sel = torchvision.ops.nms(torch.from_numpy(boxes_xyxy[b, keep]), torch.from_numpy(scores[b, c, keep]),
                                      iou).numpy()
            rows += [(b, c, int(keep[i])) for i in sel[:max_per_class]]
    return np.array(rows, np.int64).reshape(-1, 3)


def test_detect(v):
    """RoiAlign (opset 16, aligned and not, sampling_ratio 2 and adaptive, spatial_scale 0.5, regions partly
    outside the map and smaller than a pixel, several batches) against torchvision.ops.roi_align, its opset-10 form
    as torchvision exports it, max mode against the spec's definition in numpy; NonMaxSuppression on boxes and
    scores computed from the input (corner boxes in either diagonal order, centre boxes, score threshold, per-class
    limit) against torchvision.ops.nms per batch and class, and torchvision.ops.nms as PyTorch exports it."""
    import torch
    import torch.nn as nn
    import torchvision

    x = RNG.standard_normal((3, 4, 12, 14)).astype(np.float32)
    rois = np.array([[2, 3, 15, 20], [0, 0, 27, 23], [-4, 5, 9, 30], [10, 10, 10.6, 10.4], [6.5, 1.5, 21, 9]],
                    np.float32)  # image coordinates: the map is at half resolution
    bidx = np.array([0, 2, 1, 0, 2], np.int64)
    cases = [(aligned, ratio) for aligned in (False, True) for ratio in (2, 0)]
    nodes = [helper.make_node("RoiAlign", ["x", "rois", "bidx"], [f"y{k}"], output_height=3, output_width=4,
                              sampling_ratio=ratio, spatial_scale=0.5,
                              coordinate_transformation_mode="half_pixel" if aligned else "output_half_pixel")
             for k, (aligned, ratio) in enumerate(cases)]
    for k, half in enumerate((False, True)):
        nodes.append(helper.make_node("RoiAlign", ["x", "rois", "bidx"], [f"m{k}"], mode="max", output_height=3,
                                      output_width=2, sampling_ratio=k * 2, spatial_scale=0.5,
                                      coordinate_transformation_mode="half_pixel" if half else "output_half_pixel"))
    outs_names = [f"y{k}" for k in range(len(cases))] + ["m0", "m1"]
    path = save_model(v, "roialign", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                      [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outs_names],
                      {"rois": rois, "bidx": bidx}, opset=16)
    outs, _ = run_model(v, path, x, capture="none", batch=3)
    vtref.check(outs is not None and len(outs) == len(outs_names), "RoiAlign model: ventral run failed")
    if outs is None:
        return
    boxes5 = torch.from_numpy(np.concatenate([bidx[:, None].astype(np.float32), rois], axis=1))
    for k, (aligned, ratio) in enumerate(cases):
        ref = torchvision.ops.roi_align(torch.from_numpy(x), boxes5, (3, 4), 0.5, ratio, aligned).numpy()
        vtref.check_close(f"RoiAlign aligned={aligned} sampling_ratio={ratio} vs torchvision", outs[k], ref,
                          atol=1e-5, rtol=1e-5)
    for k, half in enumerate((False, True)):
        ref = roi_align_max_ref(x, rois, bidx, 3, 2, 0.5, k * 2, half)
        vtref.check_close(f"RoiAlign max half_pixel={half} vs the spec's definition", outs[len(cases) + k], ref,
                          atol=1e-5, rtol=1e-5)

    class Roi(nn.Module):
        def forward(self, t):
            return (torchvision.ops.roi_align(t, boxes5, (2, 3), 0.5, 2, False),)

    got, want = export_and_run(v, "roialign_export", Roi(), torch.from_numpy(x), 11, batch=3)
    vtref.check(got is not None, "exported roi_align: ventral run failed")
    if got is not None:
        vtref.check_close("torchvision roi_align exported at opset 11 (RoiAlign-10) vs torchvision", got[0], want[0],
                          atol=1e-5, rtol=1e-5)

    # NonMaxSuppression: x is [batch, box, 4 corner coordinates + 3 class scores]; distinct random scores (no ties)
    nb, ns, nc = 2, 24, 3
    centre = RNG.uniform(0, 10, (nb, ns, 2))
    size = RNG.uniform(1, 5, (nb, ns, 2))
    lo, hi = centre - size / 2, centre + size / 2
    corners = np.concatenate([lo, hi], axis=2)  # (y1, x1, y2, x2)
    flip = RNG.random((nb, ns)) < 0.3  # the other diagonal for some boxes
    corners[flip] = corners[flip][:, [2, 3, 0, 1]]
    scores = RNG.permutation(nb * ns * nc).reshape(nb, ns, nc) / (nb * ns * nc) + 0.01
    xs = np.concatenate([corners, scores], axis=2).astype(np.float32)
    consts = {"max4": np.array([4], np.int64), "iou": np.array([0.4], np.float32),
              "thr": np.array([0.3], np.float32), "max_all": np.array([100], np.int64),
              "iou6": np.array([0.6], np.float32), "st": np.array([0], np.int64), "mid": np.array([4], np.int64),
              "end": np.array([4 + nc], np.int64), "ax": np.array([2], np.int64)}
    nodes = [helper.make_node("Slice", ["x", "st", "mid", "ax"], ["boxes"]),
             helper.make_node("Slice", ["x", "mid", "end", "ax"], ["sc"]),
             helper.make_node("Transpose", ["sc"], ["scores"], perm=[0, 2, 1]),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "max4", "iou", "thr"], ["s0"]),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_all", "iou6"], ["s1"]),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "max4", "iou", "thr"], ["s2"],
                              center_point_box=1)]
    path = save_model(v, "nms", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                      [helper.make_tensor_value_info(n, TensorProto.INT64, None) for n in ("s0", "s1", "s2")],
                      consts, opset=11)
    outs, _ = run_model(v, path, xs, capture="none", batch=nb)
    bx, sc = xs[:, :, :4], np.ascontiguousarray(xs[:, :, 4:].transpose(0, 2, 1))
    xyxy = np.concatenate([np.minimum(bx[..., [1, 0]], bx[..., [3, 2]]), np.maximum(bx[..., [1, 0]], bx[..., [3, 2]])],
                          axis=2)
    half = bx[..., 2:] / np.float32(2)
    cxyxy = np.concatenate([bx[..., :2] - half, bx[..., :2] + half], axis=2)
    refs = [nms_ref(xyxy, sc, 4, 0.4, 0.3), nms_ref(xyxy, sc, 100, 0.6, None), nms_ref(cxyxy, sc, 4, 0.4, 0.3)]
    what = ["corner boxes, score threshold 0.3, at most 4 per class, IoU 0.4", "corner boxes, IoU 0.6, no threshold",
            "centre boxes, score threshold 0.3, at most 4 per class"]
    for k, ref in enumerate(refs):
        got = outs[k] if outs and k < len(outs) else None
        same = got is not None and got.shape == ref.shape and np.array_equal(got, ref)
        vtref.check(same, f"NonMaxSuppression ({what[k]}): not equal to torchvision.ops.nms per class")
        print(f"  NonMaxSuppression ({what[k]}): {len(ref)} selected, "
              f"{'equal to' if same else 'DIFFERENT from'} torchvision.ops.nms per batch and class")

    class Nms(nn.Module):
        def forward(self, t):
            return (torchvision.ops.nms(t[0, :, :4], t[0, :, 4], 0.5),)

    xyxy_scores = np.concatenate([xyxy[:1], xs[:1, :, 4:5]], axis=2)
    got, want = export_and_run(v, "nms_export", Nms(), torch.from_numpy(np.ascontiguousarray(xyxy_scores)), 11,
                               batch=1)
    same = got is not None and got[0].shape == want[0].shape and np.array_equal(got[0], want[0])
    vtref.check(same, "torchvision.ops.nms exported at opset 11: not equal to PyTorch's")
    print(f"  torchvision.ops.nms as exported at opset 11: {len(want[0])} kept, "
          f"{'equal to' if same else 'DIFFERENT from'} PyTorch's")
    node = helper.make_node("NonMaxSuppression", ["x", "sc"], ["y"], name="nms", center_point_box=2)
    p = save_model(v, "nms_bad", [node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4])],
                   [helper.make_tensor_value_info("y", TensorProto.INT64, None)],
                   {"sc": np.ones((1, 1, 3), np.float32)}, opset=11)
    v.expect_error("NonMaxSuppression with center_point_box 2", "run", p, "--input",
                   v.save("nms_bad.npy", np.zeros((1, 3, 4), np.float32)), "--out", v.path("o_nms"),
                   contains="center_point_box")
def signal_model(v, name, nodes, x_type, outputs, inits):
    """A model of signal ops (opset 17) reading graph input x of type x_type; outputs are (name, type) pairs."""
    return save_model(v, name, nodes, [helper.make_tensor_value_info("x", x_type, None)],
                      [helper.make_tensor_value_info(n, t, None) for n, t in outputs], inits, opset=17)


def as_complex(a):
    return a[..., 0].astype(np.float64) + 1j * a[..., 1]


def test_signal(v):
    """DFT and its inverse against numpy.fft (real and complex signals, onesided, dft_length padding and
    truncation, other axes, prime and mixed-radix lengths), the Hann / Hamming / Blackman windows against
    numpy.hanning / blackman (symmetric; periodic as the first n of n + 1) and Hamming's closed form with the
    spec's 25/46, STFT against torch.stft (center=False; onesided or not, with and without a window), each on
    float32 and float64, and a speech-sized STFT bit-identical on 1 and 2 threads; STFT frames longer than the
    signal, a mel filter past the last DFT bin and a window size computed at run time refused in one line."""
    import torch

    rng = np.random.default_rng(17)  # its own stream: the tests after this one keep their inputs
    tol = {TensorProto.FLOAT: 2e-6, TensorProto.DOUBLE: 1e-12}
    np_dtype = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}
    worst = {}
    # (shape, attributes, dft_length, numpy reference of the complex signal)
    dft_cases = [
        ((3, 12, 1), {}, None, lambda z: np.fft.fft(z, axis=1)),
        ((3, 13, 2), {}, None, lambda z: np.fft.fft(z, axis=1)),  # prime length: the direct sum
        ((2, 10, 2), {"inverse": 1}, None, lambda z: np.fft.ifft(z, axis=1)),
        ((3, 16, 1), {"onesided": 1}, None, lambda z: np.fft.rfft(z.real, axis=1)),
        ((3, 15, 1), {"onesided": 1}, None, lambda z: np.fft.rfft(z.real, axis=1)),
        ((3, 12, 1), {}, 20, lambda z: np.fft.fft(z, n=20, axis=1)),  # zero padding
        ((3, 12, 2), {}, 7, lambda z: np.fft.fft(z, n=7, axis=1)),  # truncation
        ((3, 12, 2), {"inverse": 1}, 18, lambda z: np.fft.ifft(z, n=18, axis=1)),
        ((2, 4, 18, 2), {"axis": 2}, None, lambda z: np.fft.fft(z, axis=2)),  # 18 = 2 * 3 * 3
        ((2, 6, 5, 1), {"axis": -3}, None, lambda z: np.fft.fft(z, axis=1)),
    ]
    for dt in (TensorProto.FLOAT, TensorProto.DOUBLE):
        for k, (shape, attrs, n, ref_fn) in enumerate(dft_cases):
            x = rng.standard_normal(shape).astype(np_dtype[dt])
            inputs, inits = ["x"], {}
            if n is not None:
                inputs.append("n")
                inits["n"] = np.array(n, np.int64)
            node = helper.make_node("DFT", inputs, ["y"], **attrs)
            path = signal_model(v, f"dft{k}_{dt}", [node], dt, [("y", dt)], inits)
            outs, _ = run_model(v, path, x, capture="none", batch=shape[0], x_dtype=np_dtype[dt])
            z = x[..., 0].astype(np.float64) + (1j * x[..., 1] if shape[-1] == 2 else 0)
            ref = ref_fn(z)
            got = as_complex(outs[0]) if outs else None
            ok = got is not None and got.shape == ref.shape and outs[0].dtype == np_dtype[dt]
            e = float(np.abs(got - ref).max() / np.abs(ref).max()) if ok else float("inf")
            worst[dt] = max(worst.get(dt, 0), e)
            vtref.check(ok and e < tol[dt], f"DFT {shape} {attrs} dft_length={n} ({dt}): error {e:.3g}")
    print(f"  DFT / inverse vs numpy.fft: max error relative to the largest bin {worst[TensorProto.FLOAT]:.3g} "
          f"(float32), {worst[TensorProto.DOUBLE]:.3g} (float64)")

    # Windows: the outputs are constants; x only gives the model an input.
    sizes = [1, 2, 7, 10, 16]
    nodes, outputs, refs, inits = [helper.make_node("Identity", ["x"], ["xi"])], [("xi", TensorProto.FLOAT)], [], {}

    def hamming(m):
        return 25 / 46 - 21 / 46 * np.cos(2 * np.pi * np.arange(m) / (m - 1)) if m > 1 else np.ones(m)

    for m in sizes:
        inits[f"s{m}"] = np.array(m, np.int32 if m % 2 else np.int64)
        for op, ref_fn in (("HannWindow", np.hanning), ("HammingWindow", hamming), ("BlackmanWindow", np.blackman)):
            for periodic in (0, 1):
                for odt in (TensorProto.FLOAT, TensorProto.DOUBLE):
                    name = f"{op}_{m}_{periodic}_{odt}"
                    nodes.append(helper.make_node(op, [f"s{m}"], [name], periodic=periodic, output_datatype=odt))
                    outputs.append((name, odt))
                    refs.append((name, ref_fn(m + 1)[:-1] if periodic else ref_fn(m), odt))
    path = signal_model(v, "windows", nodes, TensorProto.FLOAT, outputs, inits)
    outs, _ = run_model(v, path, np.zeros((1, 3), np.float32), capture="none")
    worst = {}
    for i, (name, ref, odt) in enumerate(refs):
        got = outs[i + 1] if outs and i + 1 < len(outs) else None
        want_dt = np.float32 if odt == TensorProto.FLOAT else np.float64
        ok = got is not None and got.shape == ref.shape and got.dtype == want_dt
        e = float(np.abs(got - ref).max()) if ok and ref.size else (0.0 if ok else float("inf"))
        worst[odt] = max(worst.get(odt, 0), e)
        vtref.check(ok and e < (1e-7 if odt == TensorProto.FLOAT else 1e-15), f"{name}: error {e:.3g}")
    print(f"  Hann / Hamming / Blackman windows (sizes {sizes}, symmetric and periodic) vs numpy: max error "
          f"{worst[TensorProto.FLOAT]:.3g} (float32), {worst[TensorProto.DOUBLE]:.3g} (float64)")

    # STFT vs torch.stft (center=False): ventral's [batch, frames, bins, 2] is torch's [batch, bins, frames, 2].
    worst = {}
    for dt, tdt in ((TensorProto.FLOAT, torch.float32), (TensorProto.DOUBLE, torch.float64)):
        for k, (length, step, frame, windowed, onesided) in enumerate(
                [(64, 8, 16, False, 1), (64, 8, 16, True, 1), (50, 5, 12, True, 0), (40, 3, 9, True, 1),
                 (33, 4, 10, False, 0)]):
            x = rng.standard_normal((2, length, 1)).astype(np_dtype[dt])
            win = torch.hann_window(frame, dtype=tdt) if windowed else None
            inputs, inits = ["x", "step"], {"step": np.array(step, np.int64)}
            if windowed:
                inputs.append("w")
                inits["w"] = win.numpy()
            else:
                inputs += ["", "fl"]
                inits["fl"] = np.array(frame, np.int64)
            node = helper.make_node("STFT", inputs, ["y"], onesided=onesided)
            path = signal_model(v, f"stft{k}_{dt}", [node], dt, [("y", dt)], inits)
            outs, _ = run_model(v, path, x, capture="none", batch=2, x_dtype=np_dtype[dt])
            ref = torch.stft(torch.from_numpy(x[..., 0]).to(tdt), frame, hop_length=step, win_length=frame,
                             window=win, center=False, onesided=bool(onesided), return_complex=True)
            ref = torch.view_as_real(ref).permute(0, 2, 1, 3).numpy()
            ok = outs is not None and outs[0].shape == ref.shape and outs[0].dtype == np_dtype[dt]
            e = rel_err(outs[0], ref) if ok else float("inf")
            worst[dt] = max(worst.get(dt, 0), e)
            vtref.check(ok and e < tol[dt], f"STFT length {length} step {step} frame {frame} window {windowed} "
                        f"onesided {onesided} ({dt}): error {e:.3g}")
    print(f"  STFT vs torch.stft (center=False, onesided and two-sided, with and without a window): max error "
          f"relative to the largest bin {worst[TensorProto.FLOAT]:.3g} (float32), {worst[TensorProto.DOUBLE]:.3g} "
          "(float64)")

    # A speech-sized STFT (400-point frames = 2^4 * 5^2, hop 160): the lines run in parallel, and the bits
    # must not depend on the thread count.
    x = rng.standard_normal((2, 4000, 1)).astype(np.float32)
    win = torch.hann_window(400)
    node = helper.make_node("STFT", ["x", "step", "w"], ["y"])
    path = signal_model(v, "stft_speech", [node], TensorProto.FLOAT, [("y", TensorProto.FLOAT)],
                        {"step": np.array(160, np.int64), "w": win.numpy()})
    runs = [run_model(v, path, x, capture="none", batch=2, env={"VENTRAL_THREADS": t})[0] for t in ("1", "2")]
    ref = torch.view_as_real(torch.stft(torch.from_numpy(x[..., 0]), 400, hop_length=160, window=win, center=False,
                                        return_complex=True)).permute(0, 2, 1, 3).numpy()
    ok = all(r is not None and r[0].shape == ref.shape for r in runs)
    e = rel_err(runs[0][0], ref) if ok else float("inf")
    same = ok and runs[0][0].tobytes() == runs[1][0].tobytes()
    vtref.check(ok and e < 2e-6, f"STFT 400/160 on 4000 samples: error {e:.3g}")
    vtref.check(same, "STFT 400/160: threads 1 and 2 differ")
    print(f"  STFT 400-point frames, hop 160, 4000 samples vs torch.stft: max error {e:.3g}; threads 1/2 "
          f"{'bit-identical' if same else 'DIFFERENT'}")

    x = np.zeros((1, 8, 1), np.float32)
    node = helper.make_node("STFT", ["x", "step", "w"], ["y"])
    path = signal_model(v, "stft_bad", [node], TensorProto.FLOAT, [("y", TensorProto.FLOAT)],
                        {"step": np.array(2, np.int64), "w": np.ones(16, np.float32)})
    v.expect_error("STFT frames longer than the signal", "run", path, "--input", v.save("stft_bad.npy", x),
                   "--out", v.path("stft_bad_out"), contains="longer than the signal")
    node = helper.make_node("MelWeightMatrix", ["mels", "n", "rate", "lo", "hi"], ["y"])
    path = signal_model(v, "mel_bad", [helper.make_node("Identity", ["x"], ["xi"]), node], TensorProto.FLOAT,
                        [("xi", TensorProto.FLOAT), ("y", TensorProto.FLOAT)],
                        {"mels": np.array(8, np.int64), "n": np.array(16, np.int64), "rate": np.array(8192, np.int64),
                         "lo": np.array(0, np.float32), "hi": np.array(8000, np.float32)})
    v.expect_error("MelWeightMatrix with its upper edge past the last bin", "run", path, "--input",
                   v.save("mel_bad.npy", np.zeros((1, 2), np.float32)), "--out", v.path("mel_bad_out"),
                   contains="upper_edge_hertz")
    nodes = [helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
             helper.make_node("Cast", ["mx"], ["size"], to=TensorProto.INT64),
             helper.make_node("HannWindow", ["size"], ["y"])]
    path = signal_model(v, "window_computed", nodes, TensorProto.FLOAT, [("y", TensorProto.FLOAT)], {})
    v.expect_error("HannWindow of a size computed from the stimuli", "run", path, "--input",
                   v.save("window_computed.npy", np.full((1, 2), 4, np.float32)), "--out",
                   v.path("window_computed_out"), contains="size")


def main():
    args = vtref.parse_args()
    v = vtref.Ventral(args.ventral)
    test_conv(v)
    test_3d(v)
    test_narrow(v)
    test_resize(v)
    test_einsum(v)
    test_misc_ops(v)
    test_sampling_indexing(v)
    test_quantized(v)
    test_recurrent(v)
    test_small_integers(v)
    test_losses(v)
    test_control_flow(v)
    test_matmul(v)
    test_maxpool(v)
    test_pool_indices(v)
    test_old_opsets(v)
    test_data_dependent(v)
    test_det_reverse_sequence(v)
    test_detect(v)
    test_signal(v)
    test_determinism_external(v)
    test_errors(v)
    test_layers_capture(v)


if __name__ == "__main__":
    main()
