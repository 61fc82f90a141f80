"""NPY reading and writing against numpy: every supported dtype, format versions 1.0-3.0,
C and Fortran order, 0-d and empty arrays, float16 read as float32; corrupt, truncated and unsupported files give a
one-line error and no output file."""
import os
import subprocess

import numpy as np

import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
tool = os.path.join(os.environ["VENTRAL_TOOLS"], "npy_roundtrip")
rng = np.random.default_rng(0)


def roundtrip(src, mode=()):
    out = v.path("out.npy")
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([tool, *mode, src, out], capture_output=True, text=True)
    return r, out


def save_version(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)


dtypes = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
          np.float32, np.float64]
for dt in dtypes:
    for version in [(1, 0), (2, 0), (3, 0)]:
        for order in ["C", "F"]:
            a = (rng.standard_normal((3, 4, 5)) * 50)
            a = (a > 0) if dt is np.bool_ else a.astype(dt)
            a = np.asfortranarray(a) if order == "F" else a
            src = v.path("in.npy")
            save_version(src, a, version)
            for mode in [(), ("--map",)]:
                r, out = roundtrip(src, mode)
                ok = r.returncode == 0 and os.path.exists(out)
                if ok:
                    b = np.load(out)
                    ok = b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b) and b.flags.c_contiguous
                vtref.check(ok, f"round trip {np.dtype(dt).name} v{version} {order} {mode}: {r.stderr.strip()}")
print(f"  {len(dtypes) * 12} dtype/version/order/mode round trips compared bit for bit")

# float16 is read as float32 (exact), C and Fortran order, read and mapped; specials and subnormals included.
h = np.concatenate([rng.standard_normal(50) * 100, [0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 6e-8, -6.1e-5]])
h = np.resize(h.astype(np.float16), (4, 3, 5))
for order in ["C", "F"]:
    src = v.save("half.npy", np.asfortranarray(h) if order == "F" else h)
    for mode in [(), ("--map",)]:
        r, out = roundtrip(src, mode)
        ok = r.returncode == 0 and os.path.exists(out)
        if ok:
            b = np.load(out)
            ok = b.dtype == np.float32 and b.shape == h.shape and np.array_equal(b, h.astype(np.float32), equal_nan=True)
        vtref.check(ok, f"float16 {order} {mode} read as float32: {r.stderr.strip()}")

# Shapes: 0-d, 1-d, empty, rank 8.
for a in [np.array(3.5), np.arange(7.0), np.zeros((0, 4), np.float32), np.ones((1, 2, 1, 2, 1, 2, 1, 2))]:
    src = v.save("shape.npy", a)
    r, out = roundtrip(src)
    vtref.check(r.returncode == 0 and np.array_equal(np.load(out), a) and np.load(out).shape == a.shape,
                f"shape {a.shape}: {r.stderr.strip()}")

# Header written by ventral is 64-byte aligned, as numpy's own.
a = rng.standard_normal((10, 3))
src = v.save("al.npy", a)
r, out = roundtrip(src)
with open(out, "rb") as f:
    major, minor = np.lib.format.read_magic(f)
    np.lib.format.read_array_header_1_0(f)
    vtref.check(f.tell() % 64 == 0, "data offset is 64-byte aligned")


def expect_fail(what, data, contains):
    src = v.path("bad.npy")
    with open(src, "wb") as f:
        f.write(data)
    for mode in [(), ("--map",)]:
        r, out = roundtrip(src, mode)
        msg = r.stderr.strip()
        ok = r.returncode == 1 and contains in msg and "bad.npy" in msg and len(msg.splitlines()) == 1
        ok = ok and not os.path.exists(out) and not any(n.startswith("out.npy.tmp") for n in os.listdir(v.dir))
        print(f"  {what}: {msg}")
        vtref.check(ok, f"{what}: clean error containing {contains!r}")


good = open(v.save("g.npy", rng.standard_normal((20, 5))), "rb").read()
expect_fail("truncated data", good[:-8], "truncated")
expect_fail("truncated header", good[:30], "truncated")
expect_fail("empty file", b"", "not a .npy")
expect_fail("bad magic", b"PK\x03\x04" + good[4:], "not a .npy")
expect_fail("future version", good[:6] + b"\x04\x00" + good[8:], "version 4.0")
expect_fail("big-endian", good.replace(b"'<f8'", b"'>f8'"), "big-endian")
expect_fail("complex dtype", good.replace(b"'<f8'", b"'<c8'"), "not supported")
expect_fail("object dtype", good.replace(b"'<f8'", b"'|O8'"), "not supported")
expect_fail("garbage shape", good.replace(b"(20, 5)", b"(2x, 5)"), "shape")
expect_fail("missing key", good.replace(b"'descr'", b"'dascr'"), "lacks")
r, out = roundtrip(v.path("does_not_exist.npy"))
vtref.check(r.returncode == 1 and "cannot open" in r.stderr, "missing file reported")
