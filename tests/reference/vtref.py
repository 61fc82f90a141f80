"""Shared helpers for the reference tests: run the ventral CLI, compare arrays with stated
tolerances, print the largest error seen, and end with an 'N passed, N failed' line.

Each reference test is run by ctest as:  /usr/bin/python3 test_x.py --ventral PATH/TO/ventral
"""
import argparse
import atexit
import os
import subprocess
import sys
import tempfile

import numpy as np

_passed = 0
_failed = 0


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ventral", required=True, help="path to the ventral executable")
    args = ap.parse_args()
    atexit.register(_summary)
    return args


def import_binding(ventral_exe):
    """The python/ventral ctypes binding, loading the libventral.so built beside the `ventral` executable."""
    libdir = os.path.dirname(os.path.abspath(ventral_exe))
    lib = os.path.join(libdir, "libventral.so")
    if not os.path.exists(lib):
        lib = os.path.join(libdir, "..", "libventral.so")
    os.environ["VENTRAL_LIB"] = lib
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import ventral
    return ventral


def _summary():
    print(f"{_passed} passed, {_failed} failed")
    if _failed or _passed == 0:  # a test that checked nothing has not passed
        os._exit(1)


def check(cond, what):
    global _passed, _failed
    if cond:
        _passed += 1
    else:
        _failed += 1
        print(f"  FAIL {what}", file=sys.stderr)


def check_close(what, got, ref, atol=0.0, rtol=1e-6):
    """Passes when |got - ref| <= atol + rtol * |ref| everywhere (shapes must agree)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        check(False, f"{what}: shape {got.shape} != reference {ref.shape}")
        return
    err = np.abs(got - ref)
    ok = bool(np.all(err <= atol + rtol * np.abs(ref))) and not np.any(np.isnan(got) != np.isnan(ref))
    err = np.where(np.isnan(err), 0, err)
    print(f"  {what}: max abs error {err.max() if err.size else 0:.3g} (atol {atol:g}, rtol {rtol:g})")
    check(ok, f"{what}: values differ beyond tolerance")


class Ventral:
    """Runs the CLI in a private temporary directory."""

    def __init__(self, exe):
        self.exe = exe
        self.tmp = tempfile.TemporaryDirectory(prefix="vtref-")
        self.dir = self.tmp.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def save(self, name, array):
        p = self.path(name)
        np.save(p, array)
        return p

    def run(self, *args, env=None, expect_ok=True):
        """Runs `ventral args...`; returns CompletedProcess. Checks the exit code when asked."""
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        r = subprocess.run([self.exe, *map(str, args)], capture_output=True, text=True, env=full_env, timeout=600)
        if expect_ok and r.returncode != 0:
            check(False, f"ventral {' '.join(map(str, args))} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def expect_error(self, what, *args, contains=None):
        """The command must fail with exit code != 0 (not a crash) and a one-line message."""
        r = self.run(*args, expect_ok=False)
        msg = r.stderr.strip()
        ok = r.returncode not in (0,) and r.returncode > 0 and r.returncode < 128 and msg != ""
        ok = ok and len(msg.splitlines()) == 1 and "Sanitizer" not in r.stderr
        if contains:
            ok = ok and contains.lower() in msg.lower()
        print(f"  {what}: exit {r.returncode}: {msg}")
        check(ok, f"{what}: expected a clean one-line error{' containing ' + repr(contains) if contains else ''}")
        return r
