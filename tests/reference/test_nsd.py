"""NSD formats: make-tiny writes the released layout (checked with h5py, nibabel, scipy.io);
`ventral nsd assemble` equals an independent numpy assembly (nsdref.py) on make-tiny's files and
on files written here by h5py / nibabel / scipy.io.savemat; NCSNR and noise ceilings of the
result equal numpy's; every bad input gives a clean one-line error and no output file."""
import glob
import json
import os
import shutil

import h5py
import nibabel as nib
import numpy as np
import scipy.io

import nsdref
import vtref
from vtref import check, check_close

args = vtref.parse_args()
vt = vtref.Ventral(args.ventral)
tiny = vt.path("tiny")

# --- make-tiny: layout, formats, dtypes, axis orders ------------------------------------------
vt.run("data", "make-tiny", "--to", tiny)
meta = json.load(open(os.path.join(tiny, "ventral_tiny.json")))
with h5py.File(os.path.join(tiny, nsdref.STIMULI), "r") as f:
    brick = f["imgBrick"]
    check(brick.dtype == np.uint8 and brick.shape == (meta["images"], 16, 16, 3), f"imgBrick {brick.dtype} {brick.shape}")
    check(brick[()].std() > 10, "imgBrick has image content")
    check(brick.chunks == (1, 16, 16, 3), f"imgBrick chunked one image at a time: {brick.chunks}")
design = scipy.io.loadmat(os.path.join(tiny, nsdref.DESIGN))
mo, subjectim, sharedix = design["masterordering"], design["subjectim"], design["sharedix"]
check(mo.shape == (1, 180) and subjectim.shape == (8, 60) and sharedix.shape == (1, 20), "expdesign shapes")
check(mo.min() == 1 and mo.max() == 60 and np.all(np.bincount(mo.ravel().astype(int))[1:] == 3), "masterordering: 1-based, 3 reps each")
check(np.all(subjectim[:, :20] == sharedix), "subjectim starts with the shared images")
check(subjectim.min() >= 1 and subjectim.max() <= meta["images"], "subjectim holds 1-based 73k ids")
for subj, nsess, nx in [(1, 3, 10), (2, 2, 9)]:
    files = nsdref.sessions(tiny, subj)
    check(len(files) == nsess, f"subject {subj}: {len(files)} sessions")
    with h5py.File(files[0], "r") as f:
        b = f["betas"]
        check(b.dtype == np.int16 and b.shape == (60, 6, 8, nx), f"betas {b.dtype} {b.shape}")
        check(b.chunks == (60, 1, 1, 1), f"betas chunked one voxel's trials at a time: {b.chunks}")
        h = b[()]
    img = nib.load(files[0].replace(".hdf5", ".nii.gz"))
    check(img.get_data_dtype() == np.int16 and img.shape == (nx, 8, 6, 60), f"betas nii {img.shape}")
    check(np.array_equal(np.asarray(img.dataobj).transpose(3, 2, 1, 0), h), "NIfTI betas == HDF5 betas transposed")
    ncs = nib.load(os.path.join(tiny, nsdref.BETAS.format(s=subj), "ncsnr.nii.gz"))
    check(ncs.shape == (nx, 8, 6) and ncs.get_data_dtype() == np.float32, "ncsnr.nii.gz")
    gen = np.asarray(nib.load(os.path.join(tiny, nsdref.ROI.format(s=subj, atlas="nsdgeneral"))).dataobj)
    check(set(np.unique(gen)) == {-1, 0, 1}, "nsdgeneral: -1 outside the brain, 0/1 inside")
    check(np.all(h[:, gen.transpose(2, 1, 0) == -1] == 0), "betas are zero outside the brain mask")

# Writing over an older copy: session files beyond the subject's sessions (the assembler reads
# sessions until the first missing file) are removed.
stale = os.path.join(tiny, nsdref.BETAS.format(s=2))
for ext in ("hdf5", "nii.gz"):
    shutil.copy(os.path.join(stale, f"betas_session01.{ext}"), os.path.join(stale, f"betas_session03.{ext}"))
vt.run("data", "make-tiny", "--to", tiny)
check(len(nsdref.sessions(tiny, 2)) == 2 and not os.path.exists(os.path.join(stale, "betas_session03.nii.gz")),
      "make-tiny over an older copy removes stale session files")

# --- assemble vs numpy on make-tiny's files --------------------------------------------------
def compare(store, ref, what):
    r, ids, vox = ref
    with h5py.File(store, "r") as f:
        got = f["responses"][()]
        check(f["responses"].dtype == np.float32, f"{what}: responses float32")
        check([int(s) for s in f["stimulus_ids"].asstr()[()]] == [int(i) for i in ids], f"{what}: stimulus ids")
        check(list(f["units/id"].asstr()[()]) == [f"v{v}" for v in vox], f"{what}: voxel ids")
        check(np.array_equal(np.isnan(got), np.isnan(r)), f"{what}: missing values (NaN) in the same places")
        ok = ~np.isnan(r)
        check_close(f"{what}: responses", got[ok], r[ok], atol=2e-6, rtol=1e-5)
        return got


b1 = vt.path("b1.h5")
vt.run("nsd", "assemble", "--root", tiny, "--subject", 1, "--out", b1)
ref1 = nsdref.assemble(tiny, 1)
compare(b1, ref1, "subj01 hdf5")
with h5py.File(b1, "r") as f:
    nx = 10
    ijk = f["units/ijk"][()]
    check(np.array_equal(ijk[:, 0] + nx * (ijk[:, 1] + 8 * ijk[:, 2]), ref1[2]), "units/ijk matches the flat voxel index")
    check(f.attrs["format"] == "ventral-brain" and f.attrs["subject"] == "subj01", "store attributes")
    check(json.loads(f.attrs["provenance"])["sessions"] == 3, "provenance is JSON")
    check(np.array_equal(f["stimuli/nsd_index"].asstr()[()].astype(int), ref1[1] - 1), "nsd_index = 73k id - 1")

b2 = vt.path("b2.h5")
vt.run("nsd", "assemble", "--root", tiny, "--subject", 2, "--out", b2, "--format", "nifti")
ref2 = nsdref.assemble(tiny, 2)
got2 = compare(b2, ref2, "subj02 nifti (mixed repetitions)")
counts = np.sum(~np.isnan(got2[:, :, 0]), axis=1)
check(set(counts) == {1, 2, 3}, f"subject 2 has 1, 2 and 3 repetitions: {sorted(set(counts))}")

b2h = vt.path("b2h.h5")
vt.run("nsd", "assemble", "--root", tiny, "--subject", 2, "--out", b2h)
with h5py.File(b2h, "r") as f, h5py.File(b2, "r") as g:
    check(np.array_equal(f["responses"][()], g["responses"][()], equal_nan=True), "HDF5 and NIfTI betas give the same store")

ball = vt.path("ball.h5")
vt.run("nsd", "assemble", "--root", tiny, "--subject", 1, "--out", ball, "--rois", "all", "--within", "none",
       "--ncsnr", "none", "--images", "all")
compare(ball, nsdref.assemble(tiny, 1, rois=None, within=None, ncsnr=None, images="all"), "subj01 every voxel/image")

# An explicit image list (ids in a chosen order, one never shown to subject 2, which is dropped).
listed = [int(subjectim[1, 30]), int(sharedix[0, 3]), int(subjectim[0, 40]), int(subjectim[1, 59])]
with open(vt.path("ids.txt"), "w") as f:
    f.write("\n".join(map(str, listed)) + "\n")
blist = vt.path("blist.h5")
vt.run("nsd", "assemble", "--root", tiny, "--subject", 2, "--out", blist, "--images", vt.path("ids.txt"))
compare(blist, nsdref.assemble(tiny, 2, images=[i for i in listed if i != int(subjectim[0, 40])]), "--images list")

bsel = vt.path("bsel.h5")
vt.run("nsd", "assemble", "--root", tiny, "--subject", 1, "--out", bsel, "--rois", "floc-faces:FFA-1,streams:5",
       "--ncsnr", "0.5", "--sessions", "2")
ref = nsdref.assemble(tiny, 1, rois=[("floc-faces", 2), ("streams", 5)], ncsnr=0.5)
# --sessions 2: the reference reads every session; restrict it by rebuilding from two sessions' files.
part = vt.path("tiny2")
shutil.copytree(tiny, part)
os.remove(os.path.join(part, nsdref.BETAS.format(s=1), "betas_session03.hdf5"))
compare(bsel, nsdref.assemble(part, 1, rois=[("floc-faces", 2), ("streams", 5)], ncsnr=0.5), "ROI list + ncsnr + sessions")

# --- NCSNR and noise ceiling of the assembled store vs numpy ------------------------------------
for store, what in [(b1, "subj01"), (b2, "subj02 mixed")]:
    out = vt.path("ceil-" + what.replace(" ", "_"))
    vt.run("ceiling", "--brain", store, "--method", "ncsnr", "-o", out)
    with h5py.File(store, "r") as f:
        r = f["responses"][()].astype(np.float64)
    ncsnr, nc = nsdref.ncsnr_nc(r)
    check_close(f"{what}: ncsnr", np.load(os.path.join(out, "ncsnr.npy")), ncsnr, atol=1e-9, rtol=1e-9)
    check_close(f"{what}: noise ceiling", np.load(os.path.join(out, "noise_ceiling.npy")), nc, atol=1e-9, rtol=1e-9)
    summary = json.load(open(os.path.join(out, "ceiling.json")))
    check(abs(summary["median_ncsnr"] - np.nanmedian(ncsnr)) < 1e-9, f"{what}: summary median ncsnr")

# ROI subsets (--roi) and the GSN path of `ventral ceiling`.
out = vt.path("ceil-ffa")
vt.run("ceiling", "--brain", b1, "--method", "ncsnr", "--roi", "floc-faces", "-o", out)
with h5py.File(b1, "r") as f:
    rois = f["units/roi"].asstr()[()]
    r = f["responses"][()].astype(np.float64)
sel = np.array([any(c.startswith("floc-faces:") for c in lab.split("+")) for lab in rois])
check_close("--roi floc-faces: ncsnr", np.load(os.path.join(out, "ncsnr.npy")), nsdref.ncsnr_nc(r[:, :, sel])[0], atol=1e-9, rtol=1e-9)
out = vt.path("ceil-gsn")
vt.run("ceiling", "--brain", b1, "--method", "gsn", "--roi", "streams:ventral", "--sims", 20, "-o", out)
g = json.load(open(os.path.join(out, "ceiling.json")))
check(-1 <= g["rsa_noise_ceiling"] <= 1 and g["scale_mode"] == "split-half" and g["units"] == int(np.sum(
    [any(c == "streams:ventral" for c in lab.split("+")) for lab in rois])), f"gsn ceiling summary: {g}")
check(np.load(os.path.join(out, "ncdist.npy")).shape == (20,), "gsn: one ceiling per simulation")

# --- files written by h5py / nibabel / scipy.io.savemat ----------------------------------------
rng = np.random.default_rng(7)
ext = vt.path("ext")
T, nsess, grid = 30, 2, (3, 4, 5)  # grid as Z, Y, X
n_img, reps = 20, 3
sharedix = np.arange(1, 9, dtype=np.int64) * 2  # 73k ids 2, 4, ..., 16
order = np.concatenate([rng.permutation(np.repeat(np.arange(1, n_img + 1), reps))])  # 60 trials
subj = np.zeros((8, n_img), dtype=np.int64)
subj[:, :8] = sharedix
subj[:, 8:] = np.arange(30, 30 + n_img - 8)
os.makedirs(os.path.join(ext, "nsddata/experiments/nsd"))
scipy.io.savemat(os.path.join(ext, nsdref.DESIGN),
                 {"masterordering": order[None, :], "subjectim": subj, "sharedix": sharedix[None, :]})
bdir = os.path.join(ext, nsdref.BETAS.format(s=3))
os.makedirs(bdir)
signal = rng.normal(size=(n_img + 40, int(np.prod(grid))))
for s in range(nsess):
    ids = subj[2, order[s * T:(s + 1) * T] - 1]
    x = 2 + 1.5 * (signal[ids] + rng.normal(size=(T, signal.shape[1])))
    with h5py.File(os.path.join(bdir, f"betas_session{s + 1:02d}.hdf5"), "w") as f:
        f["betas"] = np.round(x * 300).astype(np.int16).reshape((T,) + grid)  # contiguous: plane reads
nib.save(nib.Nifti1Image(rng.uniform(0, 1, grid[::-1]).astype(np.float32), np.eye(4)), os.path.join(bdir, "ncsnr.nii.gz"))
os.makedirs(os.path.join(ext, "nsddata/ppdata/subj03/func1pt8mm/roi"))
labels = rng.integers(0, 8, grid[::-1]).astype(np.float32)
nib.save(nib.Nifti1Image(labels, np.eye(4)), os.path.join(ext, nsdref.ROI.format(s=3, atlas="streams")))
nib.save(nib.Nifti1Image((labels > 1).astype(np.int16), np.eye(4)), os.path.join(ext, nsdref.ROI.format(s=3, atlas="nsdgeneral")))
be = vt.path("bext.h5")
vt.run("nsd", "assemble", "--root", ext, "--subject", 3, "--out", be, "--rois", "streams:ventral,streams:lateral,streams:early")
compare(be, nsdref.assemble(ext, 3, rois=[("streams", 5), ("streams", 6), ("streams", 1)]), "h5py/nibabel/savemat files")

# --- bad inputs: one clean line, non-zero exit, no output -------------------------------------
def bad(what, mutate, contains, *extra):
    root = vt.path("bad-" + what.replace(" ", "_"))
    shutil.copytree(ext, root)
    mutate(root)
    out = vt.path("bad.h5")
    vt.expect_error(what, "nsd", "assemble", "--root", root, "--subject", 3, "--out", out,
                    "--rois", "streams:ventral", *extra, contains=contains)
    check(not os.path.exists(out) and not glob.glob(out + ".tmp-*"), f"{what}: no output file")


def savemat(root, **changes):
    d = {"masterordering": order[None, :], "subjectim": subj, "sharedix": sharedix[None, :]}
    d.update(changes)
    d = {k: v for k, v in d.items() if v is not None}
    scipy.io.savemat(os.path.join(root, nsdref.DESIGN), d)


def betas(root, data, session=1):
    p = os.path.join(root, nsdref.BETAS.format(s=3), f"betas_session{session:02d}.hdf5")
    os.remove(p)
    with h5py.File(p, "w") as f:
        f["betas"] = data


def truncate(path, keep=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(int(size * keep))


bp = lambda root: os.path.join(root, nsdref.BETAS.format(s=3), "betas_session01.hdf5")
bad("missing variable", lambda r: savemat(r, sharedix=None), "sharedix")
bad("non-numeric variable", lambda r: savemat(r, subjectim=np.array(["a", "b"])), "subjectim")
bad("missing dataset", lambda r: (os.remove(bp(r)), h5py.File(bp(r), "w").create_dataset("data", data=[1])), "'betas'")
bad("wrong dtype", lambda r: betas(r, np.zeros((T,) + grid, np.float32)), "int16")
bad("wrong rank", lambda r: betas(r, np.zeros((T, 60), np.int16)), "rank")
bad("trial count differs", lambda r: betas(r, np.zeros((T + 1,) + grid, np.int16), 2), "trials")
bad("design too short", lambda r: savemat(r, masterordering=order[None, :40]), "masterordering")
bad("index outside subjectim", lambda r: savemat(r, masterordering=np.where(order == 3, 99, order)[None, :]), "masterordering")
bad("stimulus id beyond imgBrick",
    lambda r: (os.makedirs(os.path.dirname(os.path.join(r, nsdref.STIMULI))),
               h5py.File(os.path.join(r, nsdref.STIMULI), "w").create_dataset("imgBrick", data=np.zeros((20, 2, 2, 3), np.uint8))),
    "stimulus id")
bad("ROI grid differs from betas",
    lambda r: nib.save(nib.Nifti1Image(np.zeros((5, 4, 4), np.int16), np.eye(4)), os.path.join(r, nsdref.ROI.format(s=3, atlas="streams"))),
    "betas are")
bad("ncsnr grid differs from betas",
    lambda r: nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.float32), np.eye(4)), os.path.join(bdir.replace(ext, r), "ncsnr.nii.gz")),
    "ncsnr.nii.gz")
bad("truncated betas", lambda r: truncate(bp(r)), "betas_session01.hdf5")
bad("truncated design", lambda r: truncate(os.path.join(r, nsdref.DESIGN), 0.6), "truncated")
bad("truncated ROI", lambda r: truncate(os.path.join(r, nsdref.ROI.format(s=3, atlas="streams")), 0.5), "streams.nii.gz")
bad("unknown ROI label", lambda r: None, "nope", "--rois", "streams:nope")
bad("no voxel selected", lambda r: None, "no voxel", "--ncsnr", "5")
bad("no betas", lambda r: [os.remove(p) for p in glob.glob(os.path.join(r, nsdref.BETAS.format(s=3), "*.hdf5"))], "not found")

# NIfTI betas: truncated series and a grid that differs from the ROI volumes.
def nifti_betas(root, data):
    nib.save(nib.Nifti1Image(data, np.eye(4)), os.path.join(root, nsdref.BETAS.format(s=3), "betas_session01.nii.gz"))

bad("truncated NIfTI betas",
    lambda r: (nifti_betas(r, np.zeros(grid[::-1] + (T,), np.int16) + 5), truncate(os.path.join(r, nsdref.BETAS.format(s=3), "betas_session01.nii.gz"), 0.3)),
    "betas_session01.nii.gz", "--format", "nifti")
bad("NIfTI betas grid differs",
    lambda r: nifti_betas(r, np.ones((6, 4, 3, T), np.int16)), "betas are", "--format", "nifti")
vt.expect_error("subject out of range", "nsd", "assemble", "--root", ext, "--subject", 9, "--out", vt.path("x.h5"))
vt.expect_error("unknown verb", "nsd", "frobnicate")
