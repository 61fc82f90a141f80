"""data fetch / verify / manifest against a local HTTP server on 127.0.0.1 serving make-tiny's files:
complete and resumed downloads (interrupted transfers continue with a Range request), SHA-256 and
size verification (corrupted bytes are caught and never land under the final name), clear errors
for 403 / 404 / timeouts, credentials from the environment, and re-verification of a local copy.
Never touches the internet."""
import hashlib
import http.server
import os
import socket
import subprocess
import threading
import time

import h5py
import numpy as np

import vtref
from vtref import check

args = vtref.parse_args()
vt = vtref.Ventral(args.ventral)
src = vt.path("src")
vt.run("data", "make-tiny", "--to", src)

log = []  # (mode, path, range header) of every GET
cut_once_seen = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        parts = self.path.lstrip("/").split("/", 1)
        mode, rel = parts[0], parts[1] if len(parts) > 1 else ""
        rng = self.headers.get("Range")
        log.append((mode, rel, rng))
        if mode == "auth" and self.headers.get("Authorization") != "Bearer s3cret":
            self.send_error(403)
            return
        path = os.path.join(src, rel)
        if not rel or ".." in rel or not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
        body = data[start:]
        if mode == "corrupt":
            body = bytearray(body)
            body[len(body) // 2] ^= 0xFF
            body = bytes(body)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = mode == "cut" or (mode == "cutonce" and rel not in cut_once_seen)
        if mode == "cutonce":
            cut_once_seen.add(rel)
        if mode == "slow":
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(4)
            return
        if cut and len(body) > 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the transfer dies mid-body
            return
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def same_tree(dst, files, what):
    ok = all(open(os.path.join(src, f), "rb").read() == open(os.path.join(dst, f), "rb").read() for f in files)
    check(ok, f"{what}: every file byte-identical")
    leftovers = [f for _, _, fs in os.walk(dst) for f in fs if f.endswith(".part") or ".tmp-" in f]
    check(not leftovers, f"{what}: no partial files left ({leftovers[:3]})")


# A manifest of the source tree (sizes and hashes), written by ventral and checked with hashlib.
manifest = vt.path("tiny.tsv")
vt.run("data", "manifest", src, "-o", manifest, "--dataset", "nsd-tiny", "--base-url", url + "/ok")
rows = [l.rstrip("\n").split("\t") for l in open(manifest) if not l.startswith("#")]
files = [r[2] for r in rows]
check(len(files) >= 40, f"manifest lists make-tiny's files ({len(files)})")
check(all(int(r[0]) == os.path.getsize(os.path.join(src, r[2])) and r[1] == sha(os.path.join(src, r[2])) for r in rows),
      "manifest sizes and SHA-256 equal hashlib's")

# 1. A complete fetch, then a no-op re-run, then verify.
d1 = vt.path("d1")
r = vt.run("data", "fetch", manifest, "--to", d1)
same_tree(d1, files, "manifest fetch")
local = {l.split("\t")[2].strip(): l.split("\t")[1] for l in open(os.path.join(d1, "ventral_manifest.tsv")) if not l.startswith("#")}
check(all(local[f] == sha(os.path.join(src, f)) for f in files), "local manifest records each file's SHA-256")
n = len(log)
r = vt.run("data", "fetch", manifest, "--to", d1)
check(len(log) == n and r.stdout.count("present") == len(files), "re-running fetch downloads nothing")
r = vt.run("data", "verify", d1)
check("verified" in r.stdout, "verify passes on a good copy")

# 2. The built-in NSD file list against the same server, then assemble from the download.
d2 = vt.path("d2")
vt.run("data", "fetch", "nsd", "--subjects", "1", "--sessions", "3", "--to", d2, "--base-url", url + "/ok")
for root, name in [(src, "a.h5"), (d2, "b.h5")]:
    vt.run("nsd", "assemble", "--root", root, "--subject", 1, "--out", vt.path(name))
with h5py.File(vt.path("a.h5"), "r") as a, h5py.File(vt.path("b.h5"), "r") as b:
    check(np.array_equal(a["responses"][()], b["responses"][()], equal_nan=True), "NSD fetched with the built-in list assembles identically")

# 3. Interrupted transfers are resumed with Range requests within the run.
d3 = vt.path("d3")
r = vt.run("data", "fetch", manifest, "--to", d3, "--base-url", url + "/cutonce")
same_tree(d3, files, "resumed fetch")
ranges = [l for l in log if l[0] == "cutonce" and l[2]]
check(len(ranges) >= len(files) - 1 and "resumed" in r.stdout, f"resumes used HTTP ranges ({len(ranges)} range requests)")

# 4. A transfer that keeps dying: clean error, partial kept under .part only, resumed by the next run.
d4 = vt.path("d4")
big = max(rows, key=lambda r: int(r[0]))
one = vt.path("one.tsv")
with open(one, "w") as f:
    f.write("\t".join(big) + "\n")
vt.expect_error("interrupted transfer", "data", "fetch", one, "--to", d4, "--base-url", url + "/cut", "--retries", "0",
                contains="interrupted")
final = os.path.join(d4, big[2])
check(not os.path.exists(final) and os.path.getsize(final + ".part") == int(big[0]) // 2,
      "an interrupted file exists only as .part")
n = len(log)
vt.run("data", "fetch", one, "--to", d4, "--base-url", url + "/ok")
check(log[n:] == [("ok", big[2], f"bytes={int(big[0]) // 2}-")], f"the next run resumes at the partial size: {log[n:]}")
check(sha(final) == big[1] and not os.path.exists(final + ".part"), "resumed file is complete and verified")

# A progress bar is drawn when stderr is a terminal (a pseudo-terminal here), and only then.
master, slave = os.openpty()
p = subprocess.run([args.ventral, "data", "fetch", one, "--to", vt.path("d4tty"), "--base-url", url + "/ok"],
                   stdout=subprocess.PIPE, stderr=slave, timeout=60)
os.close(slave)
tty_out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    tty_out += chunk
os.close(master)
check(p.returncode == 0 and b"[" in tty_out and b"%" in tty_out and b"\r" in tty_out,
      f"progress bar on a terminal ({len(tty_out)} bytes)")
r = vt.run("data", "fetch", one, "--to", vt.path("d4notty"), "--base-url", url + "/ok")
check("%" not in r.stderr, "no progress bar when stderr is not a terminal")

# 5. Corrupted bytes: SHA-256 mismatch, nothing under the final name, no partial left.
d5 = vt.path("d5")
vt.expect_error("corrupted bytes", "data", "fetch", one, "--to", d5, "--base-url", url + "/corrupt", contains="SHA-256")
check(not os.path.exists(os.path.join(d5, big[2])) and not os.path.exists(os.path.join(d5, big[2]) + ".part"),
      "corrupted download removed")

# 6. HTTP errors, credentials, timeouts.
missing = vt.path("missing.tsv")
with open(missing, "w") as f:
    f.write("-\t-\tno/such/file.bin\n")
vt.expect_error("404", "data", "fetch", missing, "--to", vt.path("d6"), "--base-url", url + "/ok", contains="404")
with open(missing, "w") as f:
    f.write("-\t-\tno/such/file.bin\toptional\n" + "\t".join(big) + "\n")
r = vt.run("data", "fetch", missing, "--to", vt.path("d6b"), "--base-url", url + "/ok")
check(r.returncode == 0 and "absent" in r.stdout and os.path.exists(os.path.join(vt.path("d6b"), big[2])),
      "an optional file missing upstream is skipped")
vt.expect_error("403 without credentials", "data", "fetch", one, "--to", vt.path("d7"), "--base-url", url + "/auth",
                contains="VENTRAL_FETCH_TOKEN")
r = vt.run("data", "fetch", one, "--to", vt.path("d7"), "--base-url", url + "/auth", env={"VENTRAL_FETCH_TOKEN": "s3cret"})
check(r.returncode == 0 and sha(os.path.join(vt.path("d7"), big[2])) == big[1], "token from the environment is sent")
t0 = time.time()
vt.expect_error("stalled transfer", "data", "fetch", one, "--to", vt.path("d8"), "--base-url", url + "/slow", "--timeout", "1",
                contains="timed out")
check(time.time() - t0 < 4, f"timeout honoured ({time.time() - t0:.1f} s)")
vt.expect_error("connection refused", "data", "fetch", one, "--to", vt.path("d9"), "--base-url", "http://127.0.0.1:9",
                contains="connect")
vt.expect_error("unknown dataset", "data", "fetch", "nosuchset", "--to", vt.path("d10"), contains="unknown dataset")
bad = vt.path("bad.tsv")
with open(bad, "w") as f:
    f.write("12\tnothex\tfile\n")
vt.expect_error("malformed manifest", "data", "fetch", bad, "--to", vt.path("d11"), contains="bad.tsv:1")
with open(bad, "w") as f:
    f.write("-\t-\t../escape\n")
vt.expect_error("path escaping the directory", "data", "fetch", bad, "--to", vt.path("d11"), contains="relative path")

# 7. verify catches corruption and missing files in a local copy.
victim = os.path.join(d1, files[0])
data = bytearray(open(victim, "rb").read())
data[0] ^= 1
open(victim, "wb").write(bytes(data))
vt.expect_error("verify: corrupted file", "data", "verify", d1, contains=files[0])
os.remove(os.path.join(d1, files[1]))
vt.expect_error("verify: missing file", "data", "verify", d1, contains="2 of")
server.shutdown()
