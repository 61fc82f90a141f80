"""`ventral stimuli` against torchvision's transforms on PIL images (Debian python3-torchvision 0.14,
python3-pil): real photos (scikit-learn's bundled china.jpg and flower.jpg), PNGs in grey, RGBA and
palette modes, portrait/odd sizes (centre-crop rounding) and up-sampling. METHODS §1 asks for
agreement within 1/255 per pixel; since ventral reproduces Pillow's fixed-point resampling, the test
demands far less: max |difference| <= 1e-5 after normalisation."""
import os
import shutil

import numpy as np
from PIL import Image
import torch
import torchvision.transforms as T

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
photos = "/usr/lib/python3/dist-packages/sklearn/datasets/images"
folder = v.path("stim")
os.makedirs(folder)
shutil.copy(os.path.join(photos, "china.jpg"), os.path.join(folder, "a_china.jpg"))
shutil.copy(os.path.join(photos, "flower.jpg"), os.path.join(folder, "b_flower.jpg"))
base = Image.open(os.path.join(photos, "flower.jpg"))
base.crop((13, 7, 13 + 301, 7 + 457)).save(os.path.join(folder, "c_portrait_odd.png"))
base.convert("L").resize((333, 250)).save(os.path.join(folder, "d_grey.png"))
rgba = base.convert("RGBA").resize((260, 261))
rgba.putalpha(128)
rgba.save(os.path.join(folder, "e_rgba.png"))
base.convert("P", palette=Image.ADAPTIVE).save(os.path.join(folder, "f_palette.png"))
base.crop((0, 0, 120, 90)).save(os.path.join(folder, "g_small_upsampled.jpg"), quality=90)
names = sorted(os.listdir(folder))

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])
presets = {
    "torchvision": T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(*IMAGENET)]),
    "inception": T.Compose([T.Resize(342), T.CenterCrop(299), T.ToTensor(), T.Normalize(*IMAGENET)]),
    "clip": T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                       T.Normalize(*CLIP)]),
}
for preset, tf in presets.items():
    out = v.path(f"{preset}.npy")
    ids = v.path(f"{preset}.txt")
    v.run("stimuli", folder, "-o", out, "--transform", preset, "--ids", ids)
    got = np.load(out)
    ref = np.stack([tf(Image.open(os.path.join(folder, n)).convert("RGB")).numpy() for n in names])
    vtref.check(got.dtype == np.float32, f"{preset}: float32 output")
    vtref.check_close(f"{preset} vs torchvision ({len(names)} images)", got, ref, atol=1e-5, rtol=0)
    per_pixel = np.abs(got - ref) * np.array(tf.transforms[-1].std, np.float32)[None, :, None, None] * 255
    print(f"  {preset}: max error in 8-bit pixel units {per_pixel.max():.2e}")
    vtref.check(open(ids).read().split() == [os.path.splitext(n)[0] for n in names], f"{preset}: ids in order")

# A list file gives the same result as the folder, in the list's order.
lst = v.path("list.txt")
with open(lst, "w") as f:
    f.write("\n".join(os.path.join(folder, n) for n in reversed(names)) + "\n")
v.run("stimuli", lst, "-o", v.path("list.npy"))
vtref.check(np.array_equal(np.load(v.path("list.npy")), np.load(v.path("torchvision.npy"))[::-1]),
            "list file order respected")

# Bad inputs: a clean one-line error and no output file.
bad = v.path("bad")
os.makedirs(bad)
data = open(os.path.join(folder, "b_flower.jpg"), "rb").read()
open(os.path.join(bad, "x.jpg"), "wb").write(data[: len(data) // 3])
v.expect_error("truncated JPEG", "stimuli", bad, "-o", v.path("bad.npy"), contains="x.jpg")
vtref.check(not os.path.exists(v.path("bad.npy")), "no output after a failed decode")
open(os.path.join(bad, "x.jpg"), "wb").write(b"this is not an image")
v.expect_error("not an image", "stimuli", bad, "-o", v.path("bad.npy"), contains="not a JPEG or PNG")
v.expect_error("empty folder", "stimuli", v.path("nothing_here"), "-o", v.path("bad.npy"), contains="cannot open")
v.expect_error("unknown transform", "stimuli", folder, "-o", v.path("bad.npy"), "--transform", "vgg")
# A binary file where a list was meant, and a list naming a missing image: the list file is named.
binary = v.path("model.bin")
open(binary, "wb").write(b"pytorch1.13.0:\x12\x00\x01\x02 not a list")
v.expect_error("binary file as a list", "stimuli", binary, "-o", v.path("bad.npy"), contains="is not an image path")
missing = v.path("missing.txt")
open(missing, "w").write(os.path.join(folder, names[0]) + "\n\n" + v.path("gone.png") + "\n")
v.expect_error("list naming a missing image", "stimuli", missing, "-o", v.path("bad.npy"),
               contains="missing.txt: " + v.path("gone.png"))
vtref.check(not os.path.exists(v.path("bad.npy")), "no output after a bad list")
# Video clips (float32 N x 3 x T x H x W) pass through as they are, with numbered ids; clips of the wrong
# layout, empty frames and NaN are refused naming the file.
clips = np.random.default_rng(1).standard_normal((4, 3, 5, 6, 7)).astype(np.float32)
r = v.run("stimuli", v.save("clips.npy", clips), "-o", v.path("clips_out.npy"), "--ids", v.path("clips_ids.txt"))
vtref.check(r.returncode == 0 and np.array_equal(np.load(v.path("clips_out.npy")), clips),
            f"clips pass through unchanged ({r.stderr.strip()[-200:]})")
vtref.check(r.returncode == 0 and open(v.path("clips_ids.txt")).read().split() == ["0", "1", "2", "3"],
            "clips: numbered ids")
v.expect_error("clips with 4 channels", "stimuli", v.save("clips4.npy", np.zeros((2, 4, 3, 6, 6), np.float32)), "-o",
               v.path("bad.npy"), contains="clips4.npy: stimuli must be")
v.expect_error("clips with no frames", "stimuli", v.save("clips0.npy", np.zeros((2, 3, 0, 6, 6), np.float32)), "-o",
               v.path("bad.npy"), contains="dimension 2 is 0")
nan = clips.copy()
nan[2, 1, 3, 0, 0] = np.nan
v.expect_error("clips with NaN", "stimuli", v.save("clipsnan.npy", nan), "-o", v.path("bad.npy"),
               contains="clipsnan.npy")
vtref.check(not os.path.exists(v.path("bad.npy")), "no output after bad clips")
