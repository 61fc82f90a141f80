"""Independent numpy/h5py/nibabel/scipy reading of an NSD-layout root, for the reference tests:
assembles a subject's responses the way METHODS §7 describes, without ventral's code."""
import os
import warnings

import h5py
import nibabel as nib
import numpy as np
import scipy.io

BETAS = "nsddata_betas/ppdata/subj{s:02d}/func1pt8mm/betas_fithrf_GLMdenoise_RR"
ROI = "nsddata/ppdata/subj{s:02d}/func1pt8mm/roi/{atlas}.nii.gz"
DESIGN = "nsddata/experiments/nsd/nsd_expdesign.mat"
STIMULI = "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"

# NSD label values of the default occipitotemporal set (METHODS §7).
DEFAULT_ROIS = [("streams", 2), ("streams", 3), ("streams", 5), ("streams", 6),
                ("floc-faces", 1), ("floc-faces", 2), ("floc-faces", 3),
                ("floc-bodies", 1), ("floc-bodies", 2), ("floc-bodies", 3),
                ("floc-places", 1), ("floc-places", 2),
                ("floc-words", 1), ("floc-words", 2), ("floc-words", 3)]


def sessions(root, subj, ext="hdf5"):
    d = os.path.join(root, BETAS.format(s=subj))
    out = []
    n = 1
    while os.path.exists(os.path.join(d, f"betas_session{n:02d}.{ext}")):
        out.append(os.path.join(d, f"betas_session{n:02d}.{ext}"))
        n += 1
    return out


def assemble(root, subj, rois=DEFAULT_ROIS, within="nsdgeneral", ncsnr=0.2, images="shared"):
    """Returns (responses [img, rep, vox] float64, stimulus ids (1-based 73k), flat voxel indices)."""
    design = scipy.io.loadmat(os.path.join(root, DESIGN))
    mo = np.asarray(design["masterordering"]).ravel().astype(np.int64)
    subjectim = np.asarray(design["subjectim"]).astype(np.int64)
    files = sessions(root, subj)
    betas = [h5py.File(f, "r")["betas"][()] for f in files]  # trials x Z x Y x X int16
    T = betas[0].shape[0]
    grid = betas[0].shape[1:]  # Z, Y, X
    ids = subjectim[subj - 1, mo[: T * len(files)] - 1]  # 73k id per trial (1-based)

    def vol(atlas):  # X, Y, Z -> flattened x-fastest == C-order flatten of Z, Y, X
        v = np.asarray(nib.load(os.path.join(root, ROI.format(s=subj, atlas=atlas))).get_fdata())
        assert v.shape == grid[::-1], (v.shape, grid)
        return v.reshape(-1, order="F")

    nvox = int(np.prod(grid))
    keep = np.ones(nvox, bool)
    if within:
        keep &= vol(within) > 0
    if ncsnr is not None:
        nc = np.asarray(nib.load(os.path.join(root, BETAS.format(s=subj), "ncsnr.nii.gz")).get_fdata())
        keep &= nc.reshape(-1, order="F") > ncsnr
    if rois is not None:
        anyroi = np.zeros(nvox, bool)
        for atlas, value in rois:
            anyroi |= vol(atlas) == value
        keep &= anyroi
    vox = np.flatnonzero(keep)

    if isinstance(images, str) and images == "shared":
        wanted = np.asarray(design["sharedix"]).ravel().astype(np.int64)
    elif isinstance(images, str):
        wanted = np.unique(ids)
    else:  # an explicit list of 1-based ids, kept in its order
        wanted = np.asarray(images, dtype=np.int64)
    wanted = np.array([i for i in wanted if np.any(ids == i)], dtype=np.int64)
    reps = max(int(np.sum(ids == i)) for i in wanted)
    out = np.full((len(wanted), reps, len(vox)), np.nan)
    row = {int(i): k for k, i in enumerate(wanted)}
    count = {int(i): 0 for i in wanted}
    for s, b in enumerate(betas):
        x = b.reshape(T, -1)[:, vox].astype(np.float64) / 300.0
        sd = x.std(axis=0)  # population sd, per voxel over the session's trials
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (x - x.mean(axis=0)) / sd
        z[:, sd == 0] = np.nan
        for t in range(T):
            i = int(ids[s * T + t])
            if i in row:
                out[row[i], count[i]] = z[t]
                count[i] += 1
    return out, wanted, vox


def ncsnr_nc(r):
    """Allen et al. NCSNR and noise ceiling (%) per unit of r [stim, rep, unit] (NaN = missing)."""
    n = np.sum(~np.isnan(r), axis=1)  # stim x unit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # stimuli with < 2 trials give NaN variances, masked next
        var = np.nanvar(np.where(n[:, None, :] >= 2, r, np.nan), axis=1, ddof=1)
    noise = np.nanmean(np.where(n >= 2, var, np.nan), axis=0)
    flat = r.transpose(2, 0, 1).reshape(r.shape[2], -1)
    total = np.nanvar(flat, axis=1, ddof=1)
    sig = np.maximum(0, total - noise)
    ncsnr = np.sqrt(sig) / np.sqrt(noise)
    f = np.array([np.mean(1.0 / n[n[:, u] > 0, u]) for u in range(r.shape[2])])
    nc = 100 * ncsnr ** 2 / (ncsnr ** 2 + f)
    return ncsnr, nc
