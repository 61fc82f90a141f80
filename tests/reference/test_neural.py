"""import-neural: Brain-Score-style NetCDF assemblies written with netCDF4 (Majaj-Hong layout) and
generic arrays (.npy, h5py datasets) + stimulus id lists become brain stores equal to a numpy
grouping of the same data; bad inputs give a clean one-line error and no output file."""
import glob
import os

import h5py
import netCDF4
import numpy as np

import vtref
from vtref import check, check_close

args = vtref.parse_args()
vt = vtref.Ventral(args.ventral)
rng = np.random.default_rng(11)

S, U = 30, 15
stim = [f"{h:040x}" for h in rng.integers(0, 2**62, S)]  # Brain-Score ids are hashes
counts = rng.integers(2, 5, S)  # 2..4 presentations per image
pres = rng.permutation(np.repeat(np.arange(S), counts))
P = len(pres)
rep = np.zeros(P, np.int64)
seen = {}
for p, s in enumerate(pres):  # repetition numbers in a scrambled order
    seen.setdefault(s, list(rng.permutation(counts[s])))
    rep[p] = seen[s].pop()
data = rng.normal(size=(U, P)).astype(np.float32)
objects = [f"obj{s % 8}" for s in range(S)]
cats = [f"cat{(s % 8) // 2}" for s in range(S)]


def write_nc(path, order=("neuroid", "presentation", "time_bin"), bins=1, drop=(), char=False):
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("neuroid", U)
        f.createDimension("presentation", P)
        f.createDimension("time_bin", bins)
        x = np.stack([data + 10 * b for b in range(bins)], axis=-1)  # neuroid, presentation, time_bin
        axes = [("neuroid", "presentation", "time_bin").index(d) for d in order]
        v = f.createVariable("__xarray_dataarray_variable__", "f4", order)
        v[:] = x.transpose(axes)
        coords = {"stimulus_id": [stim[s] for s in pres], "object_name": [objects[s] for s in pres],
                  "category_name": [cats[s] for s in pres]}
        for name, vals in coords.items():
            if name in drop:
                continue
            if char:
                f.createDimension(f"len_{name}", 40)
                c = f.createVariable(name, "S1", ("presentation", f"len_{name}"))
                c[:] = netCDF4.stringtochar(np.array(vals, dtype="S40"))
            else:
                c = f.createVariable(name, str, ("presentation",))
                c[:] = np.array(vals, dtype=object)
        if "repetition" not in drop:
            f.createVariable("repetition", "i8", ("presentation",))[:] = rep
        nid = f.createVariable("neuroid_id", str, ("neuroid",))
        nid[:] = np.array([f"Chabo_L_M_{u}" for u in range(U)], dtype=object)
        reg = f.createVariable("region", str, ("neuroid",))
        reg[:] = np.array(["IT"] * (U - 3) + ["V4"] * 3, dtype=object)
        f.createVariable("time_bin_start", "i8", ("time_bin",))[:] = 70 + 100 * np.arange(bins)


def reference(x_pu, with_rep=True):
    """Group presentations x units by stimulus (first-appearance order), repetitions sorted by rep."""
    order = list(dict.fromkeys(pres))
    R = max(counts)
    out = np.full((S, R, U), np.nan)
    for k, s in enumerate(order):
        ps = [p for p in range(P) if pres[p] == s]
        if with_rep:
            ps = sorted(ps, key=lambda p: (rep[p], p))
        for j, p in enumerate(ps):
            out[k, j] = x_pu[p]
    return out, [stim[s] for s in order], order


def compare(store, ref, ids, what):
    with h5py.File(store, "r") as f:
        got = f["responses"][()]
        check(list(f["stimulus_ids"].asstr()[()]) == ids, f"{what}: stimulus ids")
        check(np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: missing trials in the same places")
        ok = ~np.isnan(ref)
        check_close(f"{what}: responses", got[ok], ref[ok], atol=0, rtol=1e-6)
        return f


ref, ids, order = reference(data.T)
for name, kw in [("neuroid x presentation x time_bin", {}),
                 ("presentation x neuroid, char strings", {"order": ("presentation", "neuroid", "time_bin"), "char": True})]:
    nc = vt.path("it.nc")
    write_nc(nc, **kw)
    out = vt.path("it.h5")
    vt.run("import-neural", "--netcdf", nc, "--out", out, "--subject", "Chabo")
    compare(out, ref, ids, name)
    with h5py.File(out, "r") as f:
        check(list(f["stimuli/object_name"].asstr()[()]) == [objects[s] for s in order], f"{name}: object_name metadata")
        check(list(f["stimuli/category_name"].asstr()[()]) == [cats[s] for s in order], f"{name}: category metadata")
        check(f["units/id"].asstr()[0] == "Chabo_L_M_0" and f["units/roi"].asstr()[-1] == "V4", f"{name}: neuroid coords")
        check(f.attrs["source"] == "netcdf" and f.attrs["subject"] == "Chabo", f"{name}: attributes")

# Several time bins: one must be chosen.
nc2 = vt.path("bins.nc")
write_nc(nc2, bins=3)
vt.expect_error("several time bins", "import-neural", "--netcdf", nc2, "--out", vt.path("x.h5"), contains="--time-bin")
out = vt.path("bin2.h5")
vt.run("import-neural", "--netcdf", nc2, "--out", out, "--time-bin", 2)
compare(out, reference((data + 20).T)[0], ids, "time bin 2")

# Without a repetition coordinate, presentations keep file order.
nc3 = vt.path("norep.nc")
write_nc(nc3, drop=("repetition",))
out = vt.path("norep.h5")
vt.run("import-neural", "--netcdf", nc3, "--out", out)
compare(out, reference(data.T, with_rep=False)[0], ids, "no repetition coordinate")

# Generic arrays: .npy + text ids, h5py dataset + h5 ids, presentations + repetitions.
ids_txt = vt.path("ids.txt")
with open(ids_txt, "w") as f:
    f.write("\n".join(ids) + "\n")
npy = vt.save("r.npy", ref)
out = vt.path("gen.h5")
cats_txt = vt.path("cats.txt")
with open(cats_txt, "w") as f:
    f.write("\n".join(cats[s] for s in order) + "\n")
vt.run("import-neural", "--responses", npy, "--stimulus-ids", ids_txt, "--out", out, "--region", "IT", "--categories", cats_txt)
with compare(out, ref, ids, ".npy + ids.txt") as f:
    pass
with h5py.File(out, "r") as f:
    check(set(f["units/roi"].asstr()[()]) == {"IT"} and list(f["stimuli/category"].asstr()[()])[:3] == [cats[s] for s in order[:3]],
          "--region and --categories")
h5 = vt.path("gen_in.h5")
with h5py.File(h5, "w") as f:
    f["resp"] = ref.astype(np.float64)
    f.create_dataset("ids", data=ids, dtype=h5py.string_dtype())
    f["pres"] = data.T
    f["pids"] = np.array([s for s in pres], dtype=np.int64)
vt.run("import-neural", "--responses", h5 + ":resp", "--stimulus-ids", h5 + ":ids", "--out", vt.path("h5.h5"))
compare(vt.path("h5.h5"), ref, ids, "h5 dataset + h5 ids")
vt.run("import-neural", "--responses", h5 + ":pres", "--stimulus-ids", h5 + ":pids", "--per-presentation",
       "--repetitions", vt.save("rep.npy", rep), "--out", vt.path("pp.h5"))
compare(vt.path("pp.h5"), ref, [str(s) for s in order], "presentations + integer ids + repetitions")
two = vt.save("two.npy", ref[:, 0, :])
vt.run("import-neural", "--responses", two, "--stimulus-ids", ids_txt, "--out", vt.path("two.h5"))
compare(vt.path("two.h5"), ref[:, :1, :], ids, "stimuli x units (one repetition)")

# Spatial maps attached to a generic import.
maps = rng.normal(size=(S, ref.shape[1], U, 4, 4)).astype(np.float32)
vt.run("import-neural", "--responses", npy, "--stimulus-ids", ids_txt, "--maps", vt.save("maps.npy", maps),
       "--out", vt.path("maps.h5"))
with h5py.File(vt.path("maps.h5"), "r") as f:
    check(np.array_equal(f["maps"][()], maps), "maps stored as given")


# Bad inputs.
def bad(what, contains, *argv):
    out = vt.path("bad.h5")
    vt.expect_error(what, "import-neural", *argv, "--out", out, contains=contains)
    check(not os.path.exists(out) and not glob.glob(out + ".tmp-*"), f"{what}: no output file")


nc4 = vt.path("noid.nc")
write_nc(nc4, drop=("stimulus_id",))
bad("no stimulus_id", "stimulus_id", "--netcdf", nc4)
trunc = vt.path("trunc.nc")
write_nc(trunc)
with open(trunc, "r+b") as f:
    f.truncate(os.path.getsize(trunc) // 2)
bad("truncated NetCDF", "trunc.nc", "--netcdf", trunc)
bad("missing variable", "'nope'", "--netcdf", nc, "--variable", "nope")
bad("not NetCDF", "not a readable NetCDF", "--netcdf", ids_txt)
short = vt.path("short.txt")
with open(short, "w") as f:
    f.write("\n".join(ids[:-2]))
bad("id count mismatch", "ids", "--responses", npy, "--stimulus-ids", short)
dup = vt.path("dup.txt")
with open(dup, "w") as f:
    f.write("\n".join(ids[:-1] + [ids[0]]))
bad("duplicate ids", "more than once", "--responses", npy, "--stimulus-ids", dup)
bad("missing dataset", "'nope'", "--responses", h5 + ":nope", "--stimulus-ids", ids_txt)
bad("maps shape", "maps must be", "--responses", npy, "--stimulus-ids", ids_txt, "--maps", vt.save("m2.npy", maps[:, :, :2]))
bad("string responses", "not numeric", "--responses", h5 + ":ids", "--stimulus-ids", ids_txt)
vt.expect_error("both sources", "import-neural", "--netcdf", nc, "--responses", npy, "--out", vt.path("y.h5"))

# make-tiny's IT assembly (BrainIO layout: image_id, neuroid x presentation x time_bin), read here with netCDF4.
tiny = vt.path("tiny")
vt.run("data", "make-tiny", "--to", tiny)
nc = os.path.join(tiny, "brainio", "assy_tiny_MajajHong2015_like.nc")
with netCDF4.Dataset(nc) as f:
    x = np.asarray(f["dicarlo.MajajHong2015.tiny"][:])[:, :, 0].T  # presentation x neuroid
    pid = list(f["image_id"][:])
    prep = np.asarray(f["repetition"][:])
    pcat = list(f["category_name"][:])
    region = list(f["region"][:])
order = list(dict.fromkeys(pid))
ref = np.full((len(order), 4, x.shape[1]), np.nan)
for k, s in enumerate(order):
    ps = sorted([p for p in range(len(pid)) if pid[p] == s], key=lambda p: (prep[p], p))
    ref[k, : len(ps)] = x[ps]
out = vt.path("tinyit.h5")
vt.run("import-neural", "--netcdf", nc, "--out", out)
compare(out, ref, order, "make-tiny IT assembly")
with h5py.File(out, "r") as f:
    check(list(f["stimuli/category_name"].asstr()[()]) == [pcat[pid.index(s)] for s in order], "tiny IT categories")
    check(list(f["units/roi"].asstr()[()]) == region, "tiny IT regions")
