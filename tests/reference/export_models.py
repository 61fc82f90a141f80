"""Exports randomly initialised torchvision models (fixed seed, reduced widths/resolutions so the tests
stay fast) to ONNX, together with PyTorch's output of every leaf module on the same input.

  /usr/bin/python3 export_models.py --out DIR [--models resnet18,vit] [--list]

For each model M it writes DIR/M.onnx, DIR/M_plain.onnx (logits only), DIR/M_input.npy (float32,
N x 3 x H x W, or N x 3 x T x H x W for the video model) and DIR/M_ref.npz; for the models in FOLDED
also DIR/M_folded.onnx (logits only, BatchNorm folded into the convolutions as a plain eval-mode
export does).
Every leaf module's output (taken with forward hooks) is made an extra graph output named
"tap:<module path>" by exporting a wrapper that returns it, so the ONNX graph computes exactly the
tensor PyTorch's hook saw; the npz holds those tensors under the same names, plus "logits".
Models are exported in eval mode with TrainingMode.PRESERVE so BatchNormalization stays a node
(its output is a layer) instead of being folded into the preceding Conv.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision

warnings.filterwarnings("ignore")


def small_alexnet():
    m = torchvision.models.alexnet(num_classes=10)
    # Reduced classifier (the 9216 x 4096 layer alone is 150 MB); the features are unchanged.
    m.classifier = nn.Sequential(nn.Dropout(), nn.Linear(256 * 6 * 6, 128), nn.ReLU(inplace=True), nn.Dropout(),
                                 nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Linear(64, 10))
    return m


def small_vgg11():
    m = torchvision.models.vgg11(num_classes=10)
    m.avgpool = nn.AdaptiveAvgPool2d(1)
    m.classifier = nn.Sequential(nn.Linear(512, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 10))
    return m


def small_resnet(**kw):
    """resnext50_32x4d / wide_resnet50_2 blocks (grouped / wide bottlenecks), one block per stage."""
    from torchvision.models.resnet import Bottleneck, ResNet
    return ResNet(Bottleneck, [1, 1, 1, 1], num_classes=10, **kw)


def small_efficientnet_v2():
    """efficientnet_v2_s's first four stages (FusedMBConv and MBConv with squeeze-excitation)."""
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
    setting, _ = _efficientnet_conf("efficientnet_v2_s")
    return EfficientNet(setting[:4], dropout=0.2, num_classes=10, last_channel=256)


def small_vgg11_bn():
    m = torchvision.models.vgg11_bn(num_classes=10)
    m.avgpool = nn.AdaptiveAvgPool2d(1)
    m.classifier = nn.Sequential(nn.Linear(512, 10))
    return m


def small_vit():
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128,
                             num_classes=10)


def small_densenet():
    from torchvision.models.densenet import DenseNet
    return DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, bn_size=2, num_classes=10)


def small_convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10)


def small_swin():
    from torchvision.models.swin_transformer import SwinTransformer
    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=[4, 4],
                           num_classes=10)


def small_efficientnet():
    return torchvision.models.efficientnet_b0(num_classes=10)


def small_googlenet():
    return torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=True)


def small_maxvit():
    """maxvit_t's blocks (MBConv, block and grid attention, whose relative-position attention is an Einsum)."""
    from torchvision.models.maxvit import MaxVit
    return MaxVit(input_size=(32, 32), stem_channels=16, partition_size=2, block_channels=[16, 32],
                  block_layers=[1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=10)


class SmallVideo(nn.Module):
    """A video network (N x 3 x T x H x W) from torchvision's video ResNet blocks (r3d's Conv3DSimple and
    r(2+1)d's Conv2Plus1D), with 3-D max / average pooling and a transposed 3-D convolution."""

    def __init__(self, num_classes=10):
        super().__init__()
        from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, Conv3DSimple
        self.stem = nn.Sequential(nn.Conv3d(3, 16, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(16),
                                  nn.ReLU(inplace=True))
        self.layer1 = BasicBlock(16, 16, Conv3DSimple)
        down = nn.Sequential(nn.Conv3d(16, 32, 1, stride=2, bias=False), nn.BatchNorm3d(32))
        self.layer2 = BasicBlock(16, 32, Conv2Plus1D, stride=2, downsample=down)
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.smooth = nn.AvgPool3d(2, stride=1, padding=1, ceil_mode=True, count_include_pad=False)
        self.up = nn.ConvTranspose3d(32, 16, (2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), output_padding=(0, 1, 1))
        self.head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(16, num_classes))

    def forward(self, x):
        return self.head(self.up(self.smooth(self.pool(self.layer2(self.layer1(self.stem(x)))))))


# name: (builder, input shape, opset)
MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=10), (2, 3, 64, 64), 11),
    "alexnet": (small_alexnet, (2, 3, 224, 224), 9),
    "vgg11": (small_vgg11, (2, 3, 64, 64), 13),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(num_classes=10), (2, 3, 64, 64), 13),
    "vit": (small_vit, (2, 3, 32, 32), 13),
    "vit_opset17": (small_vit, (2, 3, 32, 32), 17),
    "densenet": (small_densenet, (2, 3, 64, 64), 13),
    "squeezenet": (lambda: torchvision.models.squeezenet1_1(num_classes=10), (2, 3, 64, 64), 13),
    "googlenet": (small_googlenet, (2, 3, 64, 64), 13),
    "convnext": (small_convnext, (2, 3, 64, 64), 13),
    "efficientnet": (small_efficientnet, (2, 3, 64, 64), 13),
    "swin": (small_swin, (2, 3, 32, 32), 13),
    "resnext": (lambda: small_resnet(groups=32, width_per_group=4), (2, 3, 32, 32), 13),
    "wide_resnet": (lambda: small_resnet(width_per_group=128), (2, 3, 32, 32), 12),
    "mobilenet_v3": (lambda: torchvision.models.mobilenet_v3_small(num_classes=10), (2, 3, 64, 64), 14),
    "mnasnet": (lambda: torchvision.models.mnasnet0_5(num_classes=10), (2, 3, 64, 64), 13),
    "shufflenet_v2": (lambda: torchvision.models.shufflenet_v2_x0_5(num_classes=10), (2, 3, 64, 64), 13),
    "regnet": (lambda: torchvision.models.regnet_y_400mf(num_classes=10), (2, 3, 64, 64), 13),
    "inception_v3": (lambda: torchvision.models.inception_v3(num_classes=10, aux_logits=False, init_weights=True),
                     (1, 3, 80, 80), 13),
    "efficientnet_v2": (small_efficientnet_v2, (2, 3, 64, 64), 13),
    "vgg11_bn": (lambda: small_vgg11_bn(), (2, 3, 32, 32), 7),
    "video": (SmallVideo, (2, 3, 4, 32, 32), 13),
    "maxvit": (small_maxvit, (2, 3, 32, 32), 13),
}


class Tap(nn.Module):
    """Runs the model and returns (logits, *every leaf module's output) in call order."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.names = []

    def forward(self, x):
        outs, names = [], []
        hooks = []
        for name, mod in self.model.named_modules():
            if list(mod.children()) or isinstance(mod, (nn.Dropout, nn.Identity)):
                continue

            def hook(m, i, o, name=name):
                if isinstance(o, torch.Tensor):
                    outs.append(o)
                    names.append(name)
            hooks.append(mod.register_forward_hook(hook))
        try:
            y = self.model(x)
        finally:
            for h in hooks:
                h.remove()
        # A module called twice (a shared ReLU) yields two taps: number them.
        seen = {}
        self.names = []
        for n in names:
            k = seen.get(n, 0)
            seen[n] = k + 1
            self.names.append(n if k == 0 else f"{n}#{k}")
        return (y, *outs)


# Models also exported untapped with BatchNorm folded (DIR/M_folded.onnx).
FOLDED = {"mobilenet_v2"}


def export(name, out_dir, seed=0):
    builder, shape, opset = MODELS[name]
    torch.manual_seed(seed)
    model = builder().eval()
    for m in model.modules():  # in-place activations would overwrite the tensors the hooks saw
        if hasattr(m, "inplace"):
            m.inplace = False
    tap = Tap(model).eval()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(*shape, generator=g)
    # Grad mode stays on: under no_grad, nn.MultiheadAttention takes a fused fast path that has no ONNX export.
    ref = [r.detach() for r in tap(x)]
    names = ["logits"] + ["tap:" + n for n in tap.names]
    path = os.path.join(out_dir, name + ".onnx")
    if True:
        axes = {n: {0: "batch"} for n in ["input"] + names}
        torch.onnx.export(tap, x, path, opset_version=opset, input_names=["input"], output_names=names,
                          dynamic_axes=axes, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    # The same graph with only the logits as output (no re-export: drop the tap outputs), so intermediate
    # layers that are not captured may stay in oneDNN's NHWC layout between ops, a path the tapped model
    # never takes (its every layer is a graph output, always handed out NCHW).
    plain = onnx.load(path)
    del plain.graph.output[1:]
    onnx.save(plain, os.path.join(out_dir, name + "_plain.onnx"))
    if name in FOLDED:
        # As production exports are: untapped, eval mode, BatchNorm folded into the convolution before it
        # (so a Conv -> Clip/Relu pair is what the fusion sees).
        torch.onnx.export(model, x, os.path.join(out_dir, name + "_folded.onnx"), opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    np.save(os.path.join(out_dir, name + "_input.npy"), x.numpy().astype(np.float32))
    np.savez(os.path.join(out_dir, name + "_ref.npz"), **{n: r.numpy() for n, r in zip(names, ref)})
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=False)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print(json.dumps({k: {"input": v[1], "opset": v[2]} for k, v in MODELS.items()}))
        return
    os.makedirs(a.out, exist_ok=True)
    for name in a.models.split(","):
        export(name, a.out)
        print(name, file=sys.stderr)


if __name__ == "__main__":
    main()
