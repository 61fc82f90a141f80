"""`ventral report`: renders the report of a synthetic results database and checks every file:
PNGs are well-formed (signature, IHDR, chunk CRCs, inflated size) with plausible sizes and
non-uniform pixels, SVGs parse as XML, the HTML references only files that exist (relative
links, nothing external), outputs are byte-identical across runs, and, where /usr/bin/chromium
is installed, headless Chromium loads the page with every figure decoded."""
import html.parser
import json
import os
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib

import numpy as np

import synth_results as sr
import vtref

args = vtref.parse_args()
v = vtref.Ventral(args.ventral)
rows = sr.make_rows(seed=3)
sr.write_csv(v.path("scores.csv"), rows)
db = v.path("r.sqlite")
v.run("results", "import", "--db", db, "--csv", v.path("scores.csv"))
names = [m[0] for m in sr.MODELS]
rsms = sr.rsm_vectors(len(names), 24)
rsms2 = sr.rsm_vectors(len(names), 24, seed=2)  # a second subject's veRSA RSMs: the heat map averages
lines = ["run_id,model,model_sha256,layer_index,kind,subject,roi,npy"]
for i, name in enumerate(names):
    np.save(v.path(f"rsm{i}.npy"), rsms[i])
    q = '"' + name.replace('"', '""') + '"'
    lines.append(f"1,{q},{'%064x' % (0x1234567 * (i + 1))},1,crsa,,,rsm{i}.npy")
    lines.append(f"1,{q},{'%064x' % (0x1234567 * (i + 1))},2,versa,subj01,OTC,rsm{i}.npy")
    np.save(v.path(f"rsm2_{i}.npy"), rsms2[i])
    lines.append(f"1,{q},{'%064x' % (0x1234567 * (i + 1))},2,versa,subj02,OTC,rsm2_{i}.npy")
with open(v.path("rsms.csv"), "w") as f:
    f.write("\n".join(lines) + "\n")
v.run("results", "import", "--db", db, "--rsms", v.path("rsms.csv"), "--embed")

out = v.path("report")
r = v.run("report", "--db", db, "--out", out, "--bootstrap", "200", "--title", "Synthetic <benchmark> & co")
print("  " + r.stdout.strip())
vtref.check("index.html" in r.stdout, "report prints the path of its page")
figdir = os.path.join(out, "figures")
pngs = sorted(n for n in os.listdir(figdir) if n.endswith(".png"))
svgs = sorted(n for n in os.listdir(figdir) if n.endswith(".svg"))
kinds = ["ranking_", "accuracy_", "profiles_", "groups_", "metrics_", "model_rsm_"]
print(f"  {len(pngs)} PNG and {len(svgs)} SVG figures")
vtref.check(len(pngs) == len(svgs) and [p[:-4] for p in pngs] == [s[:-4] for s in svgs], "one SVG per PNG")
for k in kinds:
    vtref.check(any(p.startswith(k) for p in pngs), f"a {k[:-1]} figure")
vtref.check(len([p for p in pngs if p.startswith("model_rsm_")]) == 2, "a heat map per stored RSM kind")
vtref.check(not [n for d, _, fs in os.walk(out) for n in fs if ".tmp-" in n], "no temporary file left")


# ---- PNG: structure without any imaging library, pixels with Pillow when present ----
def png_structure(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None, "bad signature"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        typ, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(typ + body) & 0xFFFFFFFF != crc:
            return None, f"bad CRC in {typ!r}"
        chunks.append(typ)
        if typ == b"IDAT":
            idat += body
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        pos += 12 + n
    if chunks[0] != b"IHDR" or chunks[-1] != b"IEND":
        return None, "IHDR not first or IEND not last"
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    raw = zlib.decompress(idat)
    if channels is None or depth != 8 or len(raw) != h * (1 + w * channels):
        return None, f"inflated size {len(raw)} != {h} x (1 + {w} x {channels})"
    if any(raw[i * (1 + w * channels)] > 4 for i in range(h)):
        return None, "unknown row filter"
    return (w, h, channels), "ok"


try:
    from PIL import Image
except ImportError:
    Image = None
    print("  Pillow absent: pixel contents checked through the structural decode only")

sizes = {}
for p in pngs:
    path = os.path.join(figdir, p)
    info, why = png_structure(path)
    vtref.check(info is not None, f"{p}: well-formed PNG ({why})")
    if info is None:
        continue
    w, h, _ = info
    sizes[p[:-4]] = (w, h)
    vtref.check(300 <= w <= 4000 and 200 <= h <= 4000, f"{p}: plausible size {w}x{h}")
    if Image is not None:
        px = np.asarray(Image.open(path).convert("RGB"))
        packed = (px[..., 0].astype(np.uint32) << 16) | (px[..., 1].astype(np.uint32) << 8) | px[..., 2]
        colours = len(np.unique(packed))
        inked = float(np.mean(np.any(px < 250, axis=2)))
        vtref.check(px.shape == (h, w, 3) and colours >= 4 and inked > 0.01,
                    f"{p}: non-uniform pixels ({colours} colours, {100 * inked:.1f}% inked)")
print("  PNG sizes: " + ", ".join(f"{k} {w}x{h}" for k, (w, h) in sorted(sizes.items())[:4]) + ", ...")

# ---- SVG: parses, has the PNG's size and something drawn ----
for s in svgs:
    try:
        root = ET.parse(os.path.join(figdir, s)).getroot()
        ok = root.tag.endswith("svg")
        w = float(root.get("width", "0").rstrip("pt"))
        h = float(root.get("height", "0").rstrip("pt"))
        drawn = sum(1 for e in root.iter() if e.tag.split("}")[-1] in ("path", "use", "rect"))
        ok = ok and (round(w), round(h)) == sizes.get(s[:-4]) and drawn > 20
        vtref.check(ok, f"{s}: SVG of {w}x{h} with {drawn} drawn elements")
    except ET.ParseError as e:
        vtref.check(False, f"{s}: not well-formed XML: {e}")


# ---- HTML: every link relative and present ----
class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.imgs, self.title = [], 0, ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self._in_title = tag == "title"
        for k, val in attrs:
            if k in ("href", "src"):
                self.refs.append(val)
        self.imgs += tag == "img"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


page = open(os.path.join(out, "index.html")).read()
links = Links()
links.feed(page)
print(f"  index.html: {len(page)} bytes, {len(links.refs)} links, {links.imgs} images")
vtref.check(links.title == "Synthetic <benchmark> & co", f"the title is escaped and parsed back: {links.title!r}")
for ref in links.refs:
    if ref.startswith("#"):
        vtref.check(f'id="{ref[1:]}"' in page, f"anchor {ref} exists")
        continue
    ok = "://" not in ref and not ref.startswith("/") and os.path.isfile(os.path.join(out, ref))
    vtref.check(ok, f"link {ref} is relative and exists")
vtref.check("http://" not in page and "https://" not in page, "the page loads nothing from the network")
vtref.check(links.imgs == len(pngs) and all(f"figures/{p}" in links.refs for p in pngs), "every PNG is on the page")
vtref.check('vit_b_16 &quot;base&quot;, p16' in page, "model names are HTML-escaped")

# ---- companion files ----
summary = json.loads(v.run("results", "summary", "--db", db, "--json", "--bootstrap", "200").stdout)
vtref.check(json.load(open(os.path.join(out, "analysis.json"))) == summary,
            "analysis.json equals `results summary --json` with the same options")
exported = v.run("results", "export", "--db", db, "--format", "csv").stdout
vtref.check(open(os.path.join(out, "results.csv")).read() == exported, "results.csv equals `results export`")
mm = np.load(os.path.join(figdir, [p for p in os.listdir(figdir) if p.startswith("model_rsm_0")
                                   and p.endswith(".npy")][0]))
tri = np.array([sr.upper(m) for m in rsms])
order = sorted(range(len(names)), key=lambda i: names[i])
vtref.check_close("heat map matrix vs numpy corrcoef", mm, np.corrcoef(tri)[np.ix_(order, order)], atol=1e-12)
mm2 = np.load(os.path.join(figdir, [p for p in os.listdir(figdir) if p.startswith("model_rsm_1")
                                    and p.endswith(".npy")][0]))
tri2 = np.array([sr.upper(m) for m in rsms2])
mean = (np.corrcoef(tri) + np.corrcoef(tri2)) / 2
vtref.check_close("heat map averaged over 2 subjects vs numpy", mm2, mean[np.ix_(order, order)], atol=1e-12)
r = v.run("results", "model-rsa", "--db", db, "--kind", "versa", "--roi", "OTC", "--mean-subjects", "--out",
          v.path("mean.npy"))
vtref.check(np.array_equal(np.load(v.path("mean.npy")), mm2), "model-rsa --mean-subjects equals the report's matrix")

# ---- determinism: a second rendering is byte-identical ----
out2 = v.path("report2")
v.run("report", "--db", db, "--out", out2, "--bootstrap", "200", "--title", "Synthetic <benchmark> & co")
diff = []
for d, _, fs in os.walk(out):
    for n in fs:
        a = os.path.join(d, n)
        b = os.path.join(out2, os.path.relpath(a, out))
        if not os.path.exists(b) or open(a, "rb").read() != open(b, "rb").read():
            diff.append(os.path.relpath(a, out))
vtref.check(not diff, f"a second rendering is byte-identical ({len(diff)} files differ: {diff[:3]})")

# ---- errors ----
with open(v.path("junk.sqlite"), "w") as f:
    f.write("junk")
v.expect_error("report from a non-database", "report", "--db", v.path("junk.sqlite"), "--out", v.path("rj"),
               contains="not a SQLite database")
empty = v.path("empty.sqlite")
with open(v.path("header.csv"), "w") as f:
    f.write(",".join(sr.COLUMNS) + "\n")
v.run("results", "import", "--db", empty, "--csv", v.path("header.csv"))
v.expect_error("report of a database without scores", "report", "--db", empty,
               "--out", os.path.join(v.path("re"), "deeper"), contains="no scores")
vtref.check(not os.path.exists(v.path("rj")) and not os.path.exists(v.path("re")),
            "a failed report leaves no output directory behind")
v.expect_error("report without --out", "report", "--db", db)

# ---- headless Chromium ----
chromium = "/usr/bin/chromium"
if not os.path.exists(chromium):
    print(f"  SKIP headless Chromium check: {chromium} is not installed (scripts/setup.sh installs it)")
else:
    profile = tempfile.mkdtemp(prefix="vt-chromium-")
    try:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--virtual-time-budget=10000", "--dump-dom", "file://" + os.path.abspath(os.path.join(out, "index.html"))]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        want = f"figures loaded: {len(pngs)} of {len(pngs)}"
        print(f"  chromium exit {res.returncode}; status line found: {want in res.stdout}")
        vtref.check(res.returncode == 0 and want in res.stdout, f"headless Chromium loads the page and {want}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
