#!/usr/bin/python3
"""ventral nsd assemble vs the usual h5py + numpy assembly on the same NSD-layout files (not a test).

    /usr/bin/python3 bench/bench_nsd.py --ventral build/ventral [--grid 40 40 40] [--trials 750]
                                        [--sessions 3] [--fraction 0.2] [--repeat 2]

Writes synthetic sessions in NSD's layout (int16 betas, trials x Z x Y x X, chunked one voxel's
trials at a time as the release is), a design and an ROI volume selecting --fraction of the voxels.
ventral is timed end to end as a command (read design, ROI, betas of the selected voxels, z-score,
write the store); the peer reads each session whole with h5py (`f['betas'][:]`, as nsd_access and
most analysis code do), selects the ROI voxels, z-scores with numpy and places the repetitions.
Reported: best wall time and peak memory of each, and the ratios (> 1: ventral faster / smaller).
"""
import argparse
import os
import resource
import subprocess
import tempfile
import time

import h5py
import nibabel as nib
import numpy as np
import scipy.io


def peer(root, n_sessions, roi):
    design = scipy.io.loadmat(os.path.join(root, "nsddata/experiments/nsd/nsd_expdesign.mat"))
    mo = design["masterordering"].ravel().astype(int)
    ids = design["subjectim"][0, mo - 1].astype(int)
    shared = design["sharedix"].ravel().astype(int)
    vox = np.flatnonzero(roi.reshape(-1, order="F"))
    row = {i: k for k, i in enumerate(shared)}
    out = np.full((len(shared), 3, len(vox)), np.nan, np.float32)
    count = np.zeros(len(shared), int)
    d = os.path.join(root, "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR")
    for s in range(n_sessions):
        with h5py.File(os.path.join(d, f"betas_session{s + 1:02d}.hdf5"), "r") as f:
            b = f["betas"][:]
        T = b.shape[0]
        x = b.reshape(T, -1)[:, vox].astype(np.float64) / 300
        z = (x - x.mean(0)) / x.std(0)
        for t in range(T):
            k = row.get(ids[s * T + t])
            if k is not None:
                out[k, count[k]] = z[t]
                count[k] += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True)
    ap.add_argument("--grid", type=int, nargs=3, default=[40, 40, 40], help="X Y Z")
    ap.add_argument("--trials", type=int, default=750)
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    X, Y, Z = a.grid
    T, S = a.trials, a.sessions
    n_img = T * S // 3
    with tempfile.TemporaryDirectory(prefix="bench-nsd-") as root:
        os.makedirs(os.path.join(root, "nsddata/experiments/nsd"))
        order = rng.permutation(np.repeat(np.arange(1, n_img + 1), 3)).astype(float)
        subj = np.tile(np.arange(1, n_img + 1), (8, 1)).astype(float)
        scipy.io.savemat(os.path.join(root, "nsddata/experiments/nsd/nsd_expdesign.mat"),
                         {"masterordering": order[None], "subjectim": subj, "sharedix": subj[:1]})
        d = os.path.join(root, "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR")
        os.makedirs(d)
        for s in range(S):
            with h5py.File(os.path.join(d, f"betas_session{s + 1:02d}.hdf5"), "w") as f:
                f.create_dataset("betas", data=rng.integers(-900, 900, (T, Z, Y, X), dtype=np.int16), chunks=(T, 1, 1, 1))
        roi = (rng.random((X, Y, Z)) < a.fraction).astype(np.int16) * 5
        rd = os.path.join(root, "nsddata/ppdata/subj01/func1pt8mm/roi")
        os.makedirs(rd)
        nib.save(nib.Nifti1Image(roi, np.eye(4)), os.path.join(rd, "streams.nii.gz"))
        out = os.path.join(root, "b.h5")
        cmd = [a.ventral, "nsd", "assemble", "--root", root, "--subject", "1", "--rois", "streams:ventral",
               "--within", "none", "--ncsnr", "none", "--out", out]
        walls = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            _, _, ru = os.wait4(p.pid, 0)
            walls.append(time.perf_counter() - t)
        v_wall = min(walls)
        # ru_maxrss of a child forked from this process includes our own size at the fork; report
        # ventral's own high-water mark through a fresh interpreter-free run under /proc polling instead.
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        v_peak = 0
        while p.poll() is None:
            try:
                v_peak = max(v_peak, int([l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmHWM")][0].split()[1]))
            except (OSError, IndexError):
                pass
            time.sleep(0.005)
        walls = []
        for _ in range(a.repeat):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t = time.perf_counter()
            ref = peer(root, S, roi)
            walls.append(time.perf_counter() - t)
        p_wall = min(walls)
        p_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with h5py.File(out, "r") as f:
            err = np.nanmax(np.abs(f["responses"][()] - ref))
        nsel = int((roi > 0).sum())
        print(f"grid {X}x{Y}x{Z}, {S} sessions x {T} trials, {nsel} voxels selected; "
              f"betas on disk {S * T * X * Y * Z * 2 / 1e6:.0f} MB, output {n_img * 3 * nsel * 4 / 1e6:.0f} MB")
        print(f"ventral   {v_wall:7.2f} s   peak {v_peak / 1e3:7.0f} MB (its own process)")
        print(f"h5py+numpy{p_wall:7.2f} s   peak {p_peak / 1e3:7.0f} MB (this Python process, before run {before / 1e3:.0f} MB)")
        print(f"ratio (peer / ventral): time {p_wall / v_wall:.2f}x; max |difference| {err:.2g}")


if __name__ == "__main__":
    main()
