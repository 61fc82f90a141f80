"""nsd assemble streams: reading a subject's betas session by session over the selected voxels
keeps peak memory near the output array (plus one session of those voxels), far below the
betas on disk; the result equals numpy's."""
import os
import subprocess
import time

import h5py
import nibabel as nib
import numpy as np
import scipy.io

import nsdref
import vtref
from vtref import check, check_close

args = vtref.parse_args()
vt = vtref.Ventral(args.ventral)
rng = np.random.default_rng(5)
root = vt.path("root")
T, S, grid, n_img = 300, 4, (30, 30, 30), 400  # trials/session, sessions, Z Y X, images (3 reps each)
os.makedirs(os.path.join(root, "nsddata/experiments/nsd"))
order = rng.permutation(np.repeat(np.arange(1, n_img + 1), 3))
subj = np.tile(np.arange(1, n_img + 1), (8, 1)).astype(float)
scipy.io.savemat(os.path.join(root, nsdref.DESIGN),
                 {"masterordering": order[None].astype(float), "subjectim": subj, "sharedix": subj[:1]})
bdir = os.path.join(root, nsdref.BETAS.format(s=1))
os.makedirs(bdir)
for s in range(S):
    with h5py.File(os.path.join(bdir, f"betas_session{s + 1:02d}.hdf5"), "w") as f:
        f.create_dataset("betas", data=rng.integers(-900, 900, (T,) + grid, dtype=np.int16), chunks=(T, 1, 1, 1))
os.makedirs(os.path.dirname(os.path.join(root, nsdref.ROI.format(s=1, atlas="x"))))
lab = np.where(rng.random(grid[::-1]) < 0.25, 5, 0).astype(np.int16)
nib.save(nib.Nifti1Image(lab, np.eye(4)), os.path.join(root, nsdref.ROI.format(s=1, atlas="streams")))
nsel = int((lab == 5).sum())


def peak_kb(*argv):
    """High-water RSS of the ventral process itself (VmHWM of its own address space, polled: the
    rusage of a child forked from this large Python process would report the parent's size)."""
    p = subprocess.Popen([args.ventral, *map(str, argv)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    hwm = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.005)
    check(p.returncode == 0, f"ventral {argv[0]} {argv[1]} succeeded")
    return hwm


out = vt.path("b.h5")
vt.run("data", "make-tiny", "--to", vt.path("tiny"))
base = peak_kb("data", "make-tiny", "--to", vt.path("tiny2"))  # the process with its libraries, tiny work
peak = peak_kb("nsd", "assemble", "--root", root, "--subject", 1, "--rois", "streams:ventral", "--within", "none",
               "--ncsnr", "none", "--out", out)
check(base > 0 and peak > 0, "memory was sampled")
output_mb = n_img * 3 * nsel * 4 / 1e6
session_mb = T * nsel * 4 / 1e6
disk_mb = S * T * np.prod(grid) * 2 / 1e6
used_mb = (peak - base) / 1e3
print(f"  betas on disk {disk_mb:.0f} MB; output {output_mb:.0f} MB + one session {session_mb:.0f} MB; "
      f"peak above baseline {used_mb:.0f} MB")
if "ASAN_OPTIONS" in os.environ:
    print("  sanitizer build: shadow memory inflates the peak, bound not checked")  # scripts/test.sh --sanitize
else:
    check(used_mb < 1.25 * (output_mb + session_mb) + 8, "memory ~ output + one session, not the betas")
r, ids, vox = nsdref.assemble(root, 1, rois=[("streams", 5)], within=None, ncsnr=None)
with h5py.File(out, "r") as f:
    check_close("streamed responses", f["responses"][()], r, atol=2e-6, rtol=1e-5)
