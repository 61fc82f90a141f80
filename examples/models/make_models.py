"""Trains and exports the small bundled models of the demo world (examples/models/*.onnx + models.yaml).

Run with Debian's python3 (torch 1.13) and a built ventral:
    /usr/bin/python3 examples/models/make_models.py --ventral build/ventral
It generates procedural stimuli with `ventral simulate --images-only` (4 shape classes, 64 x 64),
trains three architectures for a few epochs on the CPU, keeps two randomly initialised ones, and
exports each to ONNX (opset 13, dynamic batch). Inputs are images scaled to [0, 1] (transform 'none').
The outputs are committed; rerunning reproduces them up to PyTorch's CPU nondeterminism.
"""
import argparse
import os
import subprocess
import tempfile
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc = nn.Linear(64, 4)

    def forward(self, x):
        # Four stages, so the last one's receptive field covers a whole shape (up to ~40 pixels).
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.conv4(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class Block(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c // stride, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.down = None if stride == 1 else nn.Sequential(nn.Conv2d(c // stride, c, 1, stride, bias=False),
                                                           nn.BatchNorm2d(c))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = Block(16, 1)
        self.layer2 = Block(32, 2)
        self.layer3 = Block(64, 2)
        self.fc = nn.Linear(64, 4)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, d))


class TinyViT(nn.Module):
    def __init__(self, d=48, depth=2, heads=4, patch=8):
        super().__init__()
        self.embed = nn.Conv2d(3, d, patch, patch)
        self.pos = nn.Parameter(torch.randn(1, (64 // patch) ** 2, d) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(nn.ModuleDict(dict(norm1=nn.LayerNorm(d), attn=Attention(d, heads), norm2=nn.LayerNorm(d),
                                                  mlp=nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d)))))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 4)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        for blk in self.blocks:
            x = x + blk["attn"](blk["norm1"](x))
            x = x + blk["mlp"](blk["norm2"](x))
        return self.head(self.norm(x).mean(1))


class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3 * 16 * 16, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 4)

    def forward(self, x):
        x = torch.flatten(F.avg_pool2d(x, 4), 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


MODELS = [  # name, constructor, family, trained
    ("tinycnn", TinyCNN, "cnn", True),
    ("tinyresnet", TinyResNet, "cnn", True),
    ("tinyvit", TinyViT, "transformer", True),
    ("tinycnn_random", TinyCNN, "cnn", False),
    ("tinymlp_random", TinyMLP, "mlp", False),
]


def stimuli(ventral, n, seed):
    with tempfile.TemporaryDirectory() as tmp:
        x, y = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        subprocess.run([ventral, "simulate", "--images-only", str(n), "-o", x, "--labels", y, "--seed", str(seed)],
                       check=True)
        images = torch.from_numpy(np.load(x)).permute(0, 3, 1, 2).float() / 255
        return images, torch.from_numpy(np.load(y)).long()


def train(model, x, y, epochs):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        model.train()
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean()) * 100


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True)
    ap.add_argument("--epochs", type=int, default=16)
    args = ap.parse_args()
    torch.manual_seed(0)
    xtr, ytr = stimuli(args.ventral, 3000, 101)
    xte, yte = stimuli(args.ventral, 600, 202)
    lines = ["# Bundled demo models (written by make_models.py). top1: accuracy (%) on 600 held-out procedural",
             "# stimuli of 4 shape classes, not ImageNet.", "models:"]
    for name, ctor, family, trained in MODELS:
        torch.manual_seed(zlib.crc32(name.encode()))
        model = ctor()
        if trained:
            train(model, xtr, ytr, args.epochs)
        acc = accuracy(model, xte, yte)
        model.eval()
        path = os.path.join(HERE, f"{name}.onnx")
        torch.onnx.export(model, torch.zeros(1, 3, 64, 64), path, opset_version=13, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: accuracy {acc:.1f} %, {params} parameters -> {path}")
        lines += [f"  - name: {name}", f"    path: {name}.onnx", f"    family: {family}",
                  "    task: classification", "    training_data: procedural-shapes",
                  f"    trained: {'true' if trained else 'false'}", f"    top1: {acc:.2f}", f"    params: {params}",
                  "    transform: none"]
    with open(os.path.join(HERE, "models.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
