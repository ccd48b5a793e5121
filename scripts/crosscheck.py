#!/usr/bin/env python3
"""Cross-check kcheck against independent third-party implementations.

Nothing in here uses kcheck code.  Every value kcheck prints (`info --json`,
`kexts --json`) is recomputed with third-party "oracles" plus the standard
library and compared:

  1. containers  FAT (struct), Apple `comp` header (struct) + LZSS (pylzss) /
                 LZVN (lzfse reference decoder via a synthetic `bvxn` block),
                 IM4P / IMG4 (pyimg4, ASN.1 via asn1), LZFSE (lzfse):
                 adler32 / uncompressedSize / compression-info integrity,
                 identical images across container variants, kcheck's
                 layers / image_size / file_size / sha256 / slices.
  2. Mach-O      LIEF and macholib: filetype, arch, LC_UUID, segment names,
                 kernel UUID (top image or `com.apple.kernel` fileset entry),
                 fileset entries vs kcheck's kexts (uuid, load_address).
  3. prelink     `__PRELINK_INFO,__info`: own resolver for the kernel XML
                 dialect (ID/IDREF, hex integers) or plistlib for KC plists;
                 every kext field of `kexts --json`, kext counts, KC ids,
                 per-kext LC_UUID found by walking the kext's Mach-O header.
  4. version     `Darwin Kernel Version ...` found by regex in the image.
  5. realdata    the same on ../shared/realdata kext executables and pyimg4
                 IM4P/IMG4 samples, when present.

Usage: python3 scripts/crosscheck.py [--kcheck BINARY] [--testdata DIR]
Prints `ok   <check>` / `FAIL <check>: why` lines and a final
`crosscheck: N passed, M failed` line.  Exit 0 = all passed, 1 = some
failed, 2 = an oracle Python module is missing (pip install -r
scripts/requirements-oracles.txt).
"""

import argparse
import base64
import hashlib
import json
import os
import plistlib
import re
import struct
import subprocess
import sys
import tempfile
import traceback
import xml.etree.ElementTree as ET
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------- oracles ---

ORACLE_MODULES = [  # (import name, pip distribution)
    ("lief", "lief"),
    ("macholib", "macholib"),
    ("pyimg4", "pyimg4"),
    ("lzss", "pylzss"),
    ("lzfse", "lzfse"),
    ("asn1", "asn1"),
]


def import_oracles():
    missing = []
    mods = {}
    for name, dist in ORACLE_MODULES:
        try:
            mods[name] = __import__(name)
        except ImportError as e:
            missing.append(f"{name} (pip package {dist}: {e})")
    if missing:
        print("crosscheck: missing Python module(s): " + "; ".join(missing))
        print("crosscheck: install with: pip install -r scripts/requirements-oracles.txt")
        sys.exit(2)
    from macholib.MachO import MachO  # noqa: F401  (sub-module import check)
    return mods


# ---------------------------------------------------------------- results ---


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name):
        self.passed += 1
        print(f"ok   {name}", flush=True)

    def fail(self, name, why):
        self.failed += 1
        print(f"FAIL {name}: {why}", flush=True)

    def check(self, name, cond, why):
        if cond:
            self.ok(name)
        else:
            self.fail(name, why)
        return cond

    def eq(self, name, kcheck_value, oracle_value, oracle="oracle"):
        return self.check(name, kcheck_value == oracle_value,
                          f"kcheck={kcheck_value!r} {oracle}={oracle_value!r}")

    def fields(self, name, pairs):
        """pairs: [(field, kcheck_value, oracle_value)] -> one check."""
        bad = [f"{f}: kcheck={k!r} oracle={o!r}" for f, k, o in pairs if k != o]
        return self.check(name, not bad, "; ".join(bad))


# ------------------------------------------------------------------ utils ---

MH_MAGIC_64 = 0xFEEDFACF
MH_MAGIC = 0xFEEDFACE
FAT_MAGIC = 0xCAFEBABE
LC_UUID = 0x1B
LC_SEGMENT_64 = 0x19
LC_FILESET_ENTRY = 0x80000035
CPU_TYPE_X86_64 = 0x01000007
CPU_TYPE_ARM64 = 0x0100000C

# mach_header filetype -> kcheck's spelling
FILETYPE_NAMES = {1: "object", 2: "execute", 6: "dylib", 8: "bundle", 0xB: "kext", 0xC: "fileset"}


def fmt_uuid(b):
    if b is None:
        return None
    h = bytes(b).hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def arch_name(cputype, cpusubtype):
    sub = cpusubtype & 0x00FFFFFF
    if cputype == CPU_TYPE_X86_64:
        return "x86_64h" if sub == 8 else "x86_64"
    if cputype == CPU_TYPE_ARM64:
        return "arm64e" if sub == 2 else "arm64"
    if cputype == 7:
        return "i386"
    if cputype == 12:
        return "arm"
    return f"cpu{cputype:#x}"


def is_macho(b):
    return len(b) >= 4 and struct.unpack("<I", b[:4])[0] in (MH_MAGIC_64, MH_MAGIC)


def parse_fat(data):
    """FAT header by struct -> [dict(arch, cputype, cpusubtype, offset, size, align)]."""
    magic, n = struct.unpack(">II", data[:8])
    assert magic == FAT_MAGIC, f"not FAT: {magic:#x}"
    out = []
    for i in range(n):
        ct, cs, off, size, align = struct.unpack(">iiIII", data[8 + 20 * i: 28 + 20 * i])
        out.append(dict(arch=arch_name(ct & 0xFFFFFFFF, cs & 0xFFFFFFFF), cputype=ct & 0xFFFFFFFF,
                        cpusubtype=cs & 0xFFFFFFFF, offset=off, size=size, align=align))
    return out


def walk_macho_uuid(data, off=0):
    """Own minimal Mach-O walker: header at `off` -> (filetype, cputype, cpusubtype, uuid bytes|None)."""
    magic, ct, cs, ft, ncmds, sizeofcmds = struct.unpack_from("<IiiIII", data, off)
    if magic not in (MH_MAGIC_64, MH_MAGIC):
        raise ValueError(f"no Mach-O magic at {off:#x} (got {magic:#x})")
    p = off + (32 if magic == MH_MAGIC_64 else 28)
    end = p + sizeofcmds
    uuid = None
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, p)
        if cmdsize < 8 or p + cmdsize > end:
            raise ValueError(f"bad load command at {p:#x}")
        if cmd == LC_UUID:
            uuid = data[p + 8:p + 24]
        p += cmdsize
    return ft, ct & 0xFFFFFFFF, cs & 0xFFFFFFFF, uuid


def lzvn_decode(stream, rawlen, lzfse):
    # The lzfse reference library has no LZVN entry point, but decodes a
    # `bvxn` block: magic, u32 raw size, u32 payload size, payload, `bvx$`.
    return lzfse.decompress(b"bvxn" + struct.pack("<II", rawlen, len(stream)) + stream + b"bvx$")


def der_fourcc(data):
    """Fourcc of a DER SEQUENCE { IA5String fourcc, ... } or None."""
    if len(data) < 8 or data[0] != 0x30:
        return None
    p = 1
    ln = data[p]
    p += 1 + ((ln & 0x7F) if ln & 0x80 else 0)
    if data[p:p + 2] != b"\x16\x04":
        return None
    return data[p + 2:p + 6].decode("latin-1")


def run_kcheck(kcheck, *args):
    p = subprocess.run([kcheck, *args], capture_output=True, timeout=60)
    # 0 healthy, 1 attention: both print a report.
    if p.returncode not in (0, 1):
        raise RuntimeError(f"`kcheck {' '.join(args)}` exited {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()[:300]}")
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise RuntimeError(f"`kcheck {' '.join(args)}` printed no JSON ({e}): {p.stdout[:200]!r}")


# ------------------------------------------------------- 1. containers ----


class Decoded:
    def __init__(self):
        self.layers = []      # what kcheck should print in `layers`
        self.image = None     # innermost bytes (the Mach-O)
        self.integrity = []   # (check suffix, ok, why)
        self.slices = None    # FAT slices (outermost FAT) with 'data'
        self.notes = []


def decode_container(data, O):
    """Peel container layers with the oracles only."""
    d = Decoded()
    cur = data
    for _ in range(16):
        if len(cur) >= 4 and struct.unpack(">I", cur[:4])[0] == FAT_MAGIC:
            slices = parse_fat(cur)
            for s in slices:
                s["data"] = cur[s["offset"]:s["offset"] + s["size"]]
                d.integrity.append((f"fat slice {s['arch']} within file",
                                    s["offset"] + s["size"] <= len(cur),
                                    f"offset {s['offset']} + size {s['size']} > {len(cur)}"))
            if d.slices is None:
                d.slices = slices
            sel = next((s for s in slices if s["arch"] == "x86_64"), slices[0])
            d.layers.append(f"fat[{sel['arch']}]")
            cur = sel["data"]
            continue
        if cur[:4] == b"comp":
            magic, ctype, adler, usize, csize = struct.unpack(">4s4sIII", cur[:20])
            ctype = ctype.decode("latin-1")
            stream = cur[0x180:0x180 + csize]
            d.integrity.append((f"comp/{ctype} compressedSize", len(stream) == csize,
                                f"header says {csize}, {len(stream)} bytes follow the 0x180 header"))
            try:
                if ctype == "lzss":
                    raw = O["lzss"].decompress(stream)[:usize]
                elif ctype == "lzvn":
                    raw = lzvn_decode(stream, usize, O["lzfse"])
                else:
                    raise ValueError(f"unknown comp type {ctype!r}")
            except Exception as e:
                raise ValueError(f"oracle could not decode the comp/{ctype} stream "
                                 f"({csize} bytes, usize {usize}): {type(e).__name__}: {e!r}") from e
            d.integrity.append((f"comp/{ctype} uncompressedSize", len(raw) == usize,
                                f"header {usize}, oracle decoded {len(raw)}"))
            got = zlib.adler32(raw) & 0xFFFFFFFF
            d.integrity.append((f"comp/{ctype} adler32", got == adler,
                                f"header {adler:#010x}, zlib.adler32(decoded) {got:#010x}"))
            d.layers.append(f"comp/{ctype}")
            cur = raw
            continue
        fcc = der_fourcc(cur)
        if fcc == "IMG4":
            im4p, how = img4_im4p(cur, O)
            d.notes.append(how)
            d.layers.append("img4")
            cur = im4p
            continue
        if fcc == "IM4P":
            im = O["pyimg4"].IM4P(cur)
            d.layers.append(f"im4p[{im.fourcc}]")
            pl = im.payload
            pdata = bytes(pl.data)
            if pdata[:4] in (b"bvx2", b"bvx1", b"bvxn", b"bvx-"):
                try:
                    raw = O["lzfse"].decompress(pdata)
                except Exception as e:
                    raise ValueError(f"lzfse could not decode the IM4P payload ({len(pdata)} bytes, "
                                     f"magic {pdata[:4]!r}): {type(e).__name__}: {e!r}") from e
                d.layers.append("lzfse")
                if pl.size is not None:  # IM4P compression-info SEQUENCE
                    d.integrity.append(("im4p compression-info size", pl.size == len(raw),
                                        f"compression-info {pl.size}, lzfse decoded {len(raw)}"))
                cur = raw
            else:  # complzss is handled by the comp branch; else a plain payload
                cur = pdata
            continue
        break
    if is_macho(cur):
        ft = struct.unpack_from("<I", cur, 12)[0]
        d.layers.append(f"mach-o/{FILETYPE_NAMES.get(ft, f'mh{ft}')}")
    d.image = cur
    return d


def img4_im4p(data, O):
    """IM4P DER bytes of an IMG4 -> (bytes, how)."""
    pyimg4, asn1 = O["pyimg4"], O["asn1"]
    try:
        return pyimg4.IMG4(data).im4p.output(), "pyimg4.IMG4"
    except Exception as e:
        # pyimg4 0.8.8 insists on an IM4M; for manifest-less IMG4 walk the
        # outer SEQUENCE with asn1 exactly as pyimg4.IMG4._parse does.
        first_err = f"{type(e).__name__}: {e}"
    dec = asn1.Decoder()
    dec.start(data)
    if dec.peek().nr != asn1.Numbers.Sequence:
        raise ValueError("IMG4: not a SEQUENCE")
    dec.enter()
    tag, fcc = dec.read()
    if fcc != "IMG4":
        raise ValueError(f"IMG4: fourcc {fcc!r}")
    if dec.peek().nr != asn1.Numbers.Sequence:
        raise ValueError("IMG4: second element is not the IM4P SEQUENCE")
    enc = asn1.Encoder()
    enc.start()
    enc.write(dec.read()[1], asn1.Numbers.Sequence, asn1.Types.Constructed, asn1.Classes.Universal)
    rest = "no IM4M" if dec.eof() else f"followed by tag {dec.peek()}"
    return enc.output(), f"asn1 walk ({rest}; pyimg4.IMG4 refused: {first_err})"


def check_container(r, label, data, dec, info):
    for what, good, why in dec.integrity:
        r.check(f"{label}: {what}", good, why)
    r.eq(f"{label}: layers", info.get("layers"), dec.layers)
    r.eq(f"{label}: image_size", info.get("image_size"), len(dec.image))
    r.eq(f"{label}: file_size", info.get("file_size"), len(data))
    r.eq(f"{label}: sha256", info.get("sha256"), hashlib.sha256(data).hexdigest(), "hashlib")


def check_slices(r, label, dec, info, O):
    lief = O["lief"]
    want = []
    for s in dec.slices or []:
        uuid = None
        if is_macho(s["data"]):
            fb = lief.MachO.parse(s["data"])
            b = fb.at(0) if fb is not None else None
            uuid = fmt_uuid(b.uuid.uuid) if b is not None and b.has_uuid else None
        want.append(dict(arch=s["arch"], offset=s["offset"], size=s["size"], uuid=uuid))
    r.eq(f"{label}: slices (FAT by struct, uuid by LIEF)", info.get("slices"), want)
    # LIEF's own FAT reader, for the slices it understands (thin Mach-O ones).
    if dec.slices:
        fb = lief.MachO.parse(dec.raw_file)
        got = {}
        for b in (fb or []):
            got[b.fat_offset] = (arch_name(int(b.header.cpu_type.value), b.header.cpu_subtype),
                                 fmt_uuid(b.uuid.uuid) if b.has_uuid else None)
        for s in want:
            if s["uuid"] is None:
                continue
            r.eq(f"{label}: slice @{s['offset']} arch/uuid vs LIEF FatBinary",
                 (s["arch"], s["uuid"]), got.get(s["offset"]), "LIEF")


# ----------------------------------------------------------- 2. Mach-O ----


class MachOFacts:
    pass


def macho_facts(image, tmpdir, O):
    """Parse an image with LIEF and macholib, cross-checking the two."""
    lief = O["lief"]
    from macholib.MachO import MachO
    f = MachOFacts()
    fb = lief.MachO.parse(image)
    if fb is None or fb.size < 1:
        raise ValueError("LIEF could not parse the image")
    b = fb.at(0)
    f.lief = b
    f.filetype_lief = FILETYPE_NAMES.get(int(b.header.file_type.value))
    f.arch_lief = arch_name(int(b.header.cpu_type.value), b.header.cpu_subtype)
    f.uuid_lief = fmt_uuid(b.uuid.uuid) if b.has_uuid else None
    f.segs_lief = [s.name for s in b.segments]
    sec = b.get_section("__PRELINK_INFO", "__info")
    f.info_lief = bytes(sec.content) if sec is not None else None
    f.filesets = []
    if b.has_filesets:
        for e in b.filesets:
            f.filesets.append(dict(name=e.fileset_name, vmaddr=e.fileset_addr,
                                   uuid=fmt_uuid(e.uuid.uuid) if e.has_uuid else None,
                                   filetype=FILETYPE_NAMES.get(int(e.header.file_type.value))))

    path = os.path.join(tmpdir, "image.macho")
    with open(path, "wb") as fh:
        fh.write(image)
    m = MachO(path)
    h = m.headers[0]
    f.filetype_macholib = FILETYPE_NAMES.get(h.header.filetype)
    f.arch_macholib = arch_name(h.header.cputype & 0xFFFFFFFF, h.header.cpusubtype & 0xFFFFFFFF)
    f.uuid_macholib = None
    f.segs_macholib = []
    f.info_macholib = None
    f.fileset_macholib = []
    for lc, cmd, data in h.commands:
        if lc.cmd == LC_UUID:
            f.uuid_macholib = fmt_uuid(cmd.uuid)
        elif lc.cmd == LC_SEGMENT_64:
            name = cmd.segname.rstrip(b"\0").decode()
            f.segs_macholib.append(dict(name=name, vmaddr=cmd.vmaddr, fileoff=cmd.fileoff,
                                        filesize=cmd.filesize))
            for s in data:
                if name == "__PRELINK_INFO" and s.sectname.rstrip(b"\0") == b"__info":
                    f.info_macholib = image[s.offset:s.offset + s.size]
        elif lc.cmd == LC_FILESET_ENTRY:
            nm = data.rstrip(b"\0").decode() if isinstance(data, bytes) else str(data)
            f.fileset_macholib.append(dict(name=nm, vmaddr=cmd.vmaddr, fileoff=cmd.fileoff))
    return f


def check_macho(r, label, image, info, kind_expected, f):
    r.eq(f"{label}: filetype LIEF == macholib", f.filetype_lief, f.filetype_macholib, "macholib")
    r.eq(f"{label}: filetype", info.get("filetype"), f.filetype_lief, "LIEF")
    r.eq(f"{label}: arch LIEF == macholib", f.arch_lief, f.arch_macholib, "macholib")
    r.eq(f"{label}: arch", info.get("arch"), f.arch_lief, "LIEF")
    r.eq(f"{label}: LC_UUID LIEF == macholib", f.uuid_lief, f.uuid_macholib, "macholib")
    r.eq(f"{label}: uuid", info.get("uuid"), f.uuid_lief, "LIEF")
    if kind_expected is not None:
        r.eq(f"{label}: kind", info.get("kind"), kind_expected, "expected")
    r.eq(f"{label}: segment names LIEF == macholib", f.segs_lief,
         [s["name"] for s in f.segs_macholib], "macholib")
    if kind_expected == "prelinked-kernel":
        need = {"__PRELINK_TEXT", "__PRELINK_INFO"}
    elif kind_expected == "kernel-collection":
        need = {"__PRELINK_INFO"}
    else:
        need = set()
    if need:
        r.check(f"{label}: segments include {'/'.join(sorted(need))}", need <= set(f.segs_lief),
                f"LIEF segments {f.segs_lief}")

    ker = info.get("kernel") or {}
    if kind_expected == "prelinked-kernel":
        r.eq(f"{label}: kernel.uuid == image LC_UUID", ker.get("uuid"), f.uuid_lief, "LIEF")
    elif kind_expected == "kernel-collection":
        lf = [(e["name"], e["vmaddr"]) for e in f.filesets]
        mf = [(e["name"], e["vmaddr"]) for e in f.fileset_macholib]
        r.eq(f"{label}: fileset entries LIEF == macholib", lf, mf, "macholib")
        kern = [e for e in f.filesets if e["name"] == "com.apple.kernel"]
        want = kern[0]["uuid"] if kern else None
        r.eq(f"{label}: kernel.uuid == com.apple.kernel entry LC_UUID", ker.get("uuid"), want, "LIEF")
        # own walker on the kernel entry too
        mk = [e for e in f.fileset_macholib if e["name"] == "com.apple.kernel"]
        if mk:
            own = fmt_uuid(walk_macho_uuid(image, mk[0]["fileoff"])[3])
            r.eq(f"{label}: com.apple.kernel LC_UUID LIEF == struct walk", want, own, "struct")


def check_fileset_kexts(r, label, image, kexts, f):
    by_id = {k["bundle_id"]: k for k in kexts.get("kexts", [])}
    names = {e["name"] for e in f.filesets} - {"com.apple.kernel"}
    r.check(f"{label}: fileset entry names ⊆ kcheck kext bundle ids", names <= set(by_id),
            f"entries missing from kcheck: {sorted(names - set(by_id))}")
    mach = {e["name"]: e for e in f.fileset_macholib}
    for e in f.filesets:
        if e["name"] == "com.apple.kernel":
            continue
        k = by_id.get(e["name"], {})
        own = None
        if e["name"] in mach:
            own = fmt_uuid(walk_macho_uuid(image, mach[e["name"]]["fileoff"])[3])
        r.fields(f"{label}: fileset entry {e['name']} (LIEF/macholib)", [
            ("uuid (LIEF)", k.get("uuid"), e["uuid"]),
            ("uuid (struct walk)", k.get("uuid"), own),
            ("load_address (LIEF fileset_addr)", k.get("load_address"), hex(e["vmaddr"])),
            ("load_address (macholib vmaddr)", k.get("load_address"),
             hex(mach[e["name"]]["vmaddr"]) if e["name"] in mach else None),
        ])


# ---------------------------------------------------------- 3. prelink ----


def parse_kernel_xml(text):
    """Kernel (OSUnserializeXML) dialect: no header, ID/IDREF, hex integers."""
    root = ET.fromstring(text)
    ids = {}

    def conv(el):
        ref = el.get("IDREF")
        if ref is not None:
            if ref not in ids:
                raise ValueError(f"IDREF {ref} before its ID")
            return ids[ref]
        t = el.tag
        if t == "dict":
            ch = list(el)
            if len(ch) % 2:
                raise ValueError("odd number of children in <dict>")
            v = {}
            for kel, vel in zip(ch[0::2], ch[1::2]):
                if kel.tag != "key":
                    raise ValueError(f"expected <key>, got <{kel.tag}>")
                v[kel.text or ""] = conv(vel)
        elif t == "array":
            v = [conv(c) for c in el]
        elif t == "string":
            v = el.text or ""
        elif t == "integer":
            v = int((el.text or "0").strip(), 0)
        elif t == "data":
            v = base64.b64decode("".join((el.text or "").split()))
        elif t == "true":
            v = True
        elif t == "false":
            v = False
        elif t == "set":
            v = [conv(c) for c in el]
        else:
            raise ValueError(f"unknown element <{t}>")
        if el.get("ID") is not None:
            ids[el.get("ID")] = v
        return v

    return conv(root)


def parse_prelink_info(info):
    text = info.split(b"\0", 1)[0]
    stripped = text.lstrip()
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<!DOCTYPE") or stripped.startswith(b"<plist"):
        return plistlib.loads(text), "plistlib", len(text)
    return parse_kernel_xml(text.decode("utf-8")), "kernel-XML resolver", len(text)


def check_prelink(r, label, image, info, kexts, f):
    if f.info_lief is None:
        r.fail(f"{label}: __PRELINK_INFO,__info", "LIEF finds no such section")
        return
    r.check(f"{label}: __info bytes LIEF == macholib", f.info_lief == f.info_macholib,
            f"LIEF {len(f.info_lief)} bytes, macholib "
            f"{None if f.info_macholib is None else len(f.info_macholib)} bytes, differ")
    plist, how, textlen = parse_prelink_info(f.info_lief)
    r.eq(f"{label}: prelink_info_size (bytes before NUL)", info.get("prelink_info_size"), textlen)
    lst = plist.get("_PrelinkInfoDictionary", [])
    r.eq(f"{label}: kext_count ({how})", info.get("kext_count"), len(lst))
    codeless = sum(1 for k in lst if "_PrelinkExecutableRelativePath" not in k
                   and "CFBundleExecutable" not in k)
    r.eq(f"{label}: codeless_kext_count ({how})", info.get("codeless_kext_count"), codeless)
    kcid = fmt_uuid(plist["_PrelinkKCID"]) if "_PrelinkKCID" in plist else None
    bootid = fmt_uuid(plist["_BootKCID"]) if "_BootKCID" in plist else None
    r.eq(f"{label}: info kc_id (_PrelinkKCID)", info.get("kc_id"), kcid)
    r.eq(f"{label}: info boot_kc_id (_BootKCID)", info.get("boot_kc_id"), bootid)
    r.eq(f"{label}: kexts kc_id (_PrelinkKCID)", kexts.get("kc_id"), kcid)
    r.eq(f"{label}: kexts kernel == info kernel", kexts.get("kernel"), info.get("kernel"), "info")

    got = kexts.get("kexts", [])
    kids = [k.get("bundle_id") for k in got]
    pids = [k.get("CFBundleIdentifier") for k in lst]
    if kids == pids:
        r.ok(f"{label}: kext bundle ids in order ({how})")
    else:
        extra = [b for b in kids if b not in pids]
        missing = [b for b in pids if b not in kids]
        why = f"only in kcheck: {extra}; only in prelink info: {missing}"
        if not extra and not missing:
            why = f"same ids, different order: kcheck={kids} oracle={pids}"
        r.fail(f"{label}: kext bundle ids in order ({how})", why)

    # where kext Mach-O headers live
    ptext = next((s for s in f.segs_macholib if s["name"] == "__PRELINK_TEXT"), None)
    fs_off = {e["name"]: e["fileoff"] for e in f.fileset_macholib}

    by_id = {k.get("bundle_id"): k for k in got}
    for k in lst:
        bid = k.get("CFBundleIdentifier")
        kc = by_id.get(bid)
        if kc is None:
            r.fail(f"{label}: kext {bid}", f"in prelink {how} but not in `kcheck kexts`")
            continue
        la = k.get("_PrelinkExecutableLoadAddr")
        want_uuid = None
        uuid_src = "none"
        if "_PrelinkExecutableSourceAddr" in k and ptext is not None:
            src = k["_PrelinkExecutableSourceAddr"]
            off = ptext["fileoff"] + src - ptext["vmaddr"]
            try:
                want_uuid = fmt_uuid(walk_macho_uuid(image, off)[3])
                uuid_src = f"Mach-O at file offset {off:#x}"
            except Exception as e:
                want_uuid = f"<walk failed at {off:#x}: {e}>"
        elif bid in fs_off:
            want_uuid = fmt_uuid(walk_macho_uuid(image, fs_off[bid])[3])
            uuid_src = f"fileset entry at {fs_off[bid]:#x}"
        r.fields(f"{label}: kext {bid} vs {how} (uuid from {uuid_src})", [
            ("version", kc.get("version"), k.get("CFBundleVersion")),
            ("bundle_path", kc.get("bundle_path"), k.get("_PrelinkBundlePath")),
            ("executable_relative_path", kc.get("executable_relative_path"),
             k.get("_PrelinkExecutableRelativePath")),
            ("load_address", kc.get("load_address"), hex(la) if la is not None else None),
            ("executable_size", kc.get("executable_size"), k.get("_PrelinkExecutableSize")),
            ("uuid", kc.get("uuid"), want_uuid),
        ])


# ---------------------------------------------------------- 4. version ----

VERSION_RE = re.compile(rb"Darwin Kernel Version [^\x00]*")


def find_kernel_version(image):
    for m in VERSION_RE.finditer(image):
        if image[max(0, m.start() - 13):m.start()] == b"@(#)VERSION: ":
            continue
        return m.group(0).decode("latin-1")
    return None


# --------------------------------------------------------------- driver ----

# name -> (expected kind, group of byte-identical images)
FIXTURES = {
    "caches/prelinkedkernel-a.raw": ("prelinked-kernel", "plk-a"),
    "caches/prelinkedkernel-a.fat-lzvn": ("prelinked-kernel", "plk-a"),
    "caches/prelinkedkernel-a.fat-lzss": ("prelinked-kernel", "plk-a"),
    "caches/prelinkedkernel-a.comp-lzvn": ("prelinked-kernel", "plk-a"),
    "caches/prelinkedkernel-a.fat-raw": ("prelinked-kernel", "plk-a"),
    "caches/prelinkedkernel-a.fat2": ("prelinked-kernel", "plk-a"),
    "caches/prelinkedkernel-b.fat-lzvn": ("prelinked-kernel", "plk-b"),
    "caches/kernelcache-a.im4p-lzss": ("prelinked-kernel", "plk-arm64e"),
    "caches/kernelcache-ios.im4p-lzfse": ("kernel-collection", "kc-ios"),
    "caches/kernelcache-ios.img4": ("kernel-collection", "kc-ios"),
    "caches/BootKernelExtensions.kc": ("kernel-collection", "boot-kc"),
    "caches/AuxiliaryKernelExtensions.kc": ("kernel-collection", "aux-kc"),
    "kexts/FooNet-x86_64": ("mach-o", "foonet-x86_64"),
    "kexts/FooNet-fat": ("mach-o", "foonet-x86_64"),
}


def check_file(r, O, kcheck, path, label, kind_expected, images, group, want_kexts=True):
    with open(path, "rb") as fh:
        data = fh.read()
    dec = decode_container(data, O)
    dec.raw_file = data
    for n in dec.notes:
        r.ok(f"{label}: IMG4 outer SEQUENCE parsed via {n}")
    info = run_kcheck(kcheck, "info", "--json", path)
    check_container(r, label, data, dec, info)
    check_slices(r, label, dec, info, O)
    if group is not None:
        images.setdefault(group, []).append((label, dec.image))
    if dec.slices:
        for s in dec.slices:
            if s["arch"] != "x86_64" and is_macho(s["data"]):
                images.setdefault(f"slice:{s['arch']}:{group}", []).append((f"{label}[{s['arch']}]", s["data"]))
    if not is_macho(dec.image):
        r.fail(f"{label}: decoded image", f"oracle decode did not end in a Mach-O (layers {dec.layers})")
        return
    with tempfile.TemporaryDirectory() as td:
        f = macho_facts(dec.image, td, O)
    check_macho(r, label, dec.image, info, kind_expected, f)
    ker = info.get("kernel") or {}
    if kind_expected in ("prelinked-kernel", "kernel-collection"):
        r.eq(f"{label}: kernel.version (regex)", ker.get("version"), find_kernel_version(dec.image), "regex")
        if want_kexts:
            kexts = run_kcheck(kcheck, "kexts", "--json", path)
            r.eq(f"{label}: kexts layers == info layers", kexts.get("layers"), info.get("layers"), "info")
            if kind_expected == "kernel-collection":
                check_fileset_kexts(r, label, dec.image, kexts, f)
            check_prelink(r, label, dec.image, info, kexts, f)
    else:
        r.eq(f"{label}: kernel.version (regex)", ker.get("version"), find_kernel_version(dec.image), "regex")
    return dec


def guarded(r, label, fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)[-1]
        r.fail(f"{label}: crosscheck run", f"{type(e).__name__}: {e} (at crosscheck.py:{tb.lineno})")
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kcheck", help="kcheck binary (default target/release/kcheck, else target/debug/kcheck)")
    ap.add_argument("--testdata", default="testdata", help="fixture directory (default: testdata)")
    args = ap.parse_args()
    O = import_oracles()
    O["lief"].logging.disable()

    kcheck = args.kcheck
    if kcheck is None:
        rel = os.path.join(REPO, "target", "release", "kcheck")
        kcheck = rel if os.path.exists(rel) else os.path.join(REPO, "target", "debug", "kcheck")
    r = Results()
    if not os.path.isfile(kcheck):
        r.fail("kcheck binary", f"{kcheck} not found (cargo build first, or pass --kcheck)")
        print(f"crosscheck: {r.passed} passed, {r.failed} failed")
        return 1
    testdata = args.testdata
    if not os.path.isdir(testdata) and os.path.isdir(os.path.join(REPO, testdata)):
        testdata = os.path.join(REPO, testdata)

    images = {}
    for rel, (kind, group) in FIXTURES.items():
        path = os.path.join(testdata, rel)
        label = os.path.basename(rel)
        if not os.path.exists(path):
            r.fail(f"{label}: fixture", f"{path} missing (cargo run --example gen_fixtures)")
            continue
        guarded(r, label, check_file, r, O, kcheck, path, label, kind, images, group)

    # identical decoded images across container variants
    def same(group, name):
        members = images.get(group, [])
        if len(members) < 2:
            r.fail(f"images: {name}", f"only {len(members)} decoded member(s): {[m[0] for m in members]}")
            return
        ref_label, ref = members[0]
        bad = [f"{lb} ({len(im)} bytes, sha256 {hashlib.sha256(im).hexdigest()[:12]})"
               for lb, im in members[1:] if im != ref]
        r.check(f"images: {name}: {', '.join(m[0] for m in members)} decode identically", not bad,
                f"differ from {ref_label} ({len(ref)} bytes, sha256 {hashlib.sha256(ref).hexdigest()[:12]}): "
                + "; ".join(bad))

    same("plk-a", "prelinkedkernel-a variants == prelinkedkernel-a.raw")
    images.setdefault("plk-arm64e-vs-fat2", []).extend(images.get("plk-arm64e", []))
    images["plk-arm64e-vs-fat2"].extend(images.get("slice:arm64e:plk-a", []))
    same("plk-arm64e-vs-fat2", "kernelcache-a.im4p-lzss == arm64e slice of prelinkedkernel-a.fat2")
    same("kc-ios", "kernelcache-ios.img4 == kernelcache-ios.im4p-lzfse")
    same("foonet-x86_64", "FooNet-fat x86_64 slice == FooNet-x86_64")
    a = images.get("plk-a", [])
    b = images.get("plk-b", [])
    if a and b:
        r.check("images: prelinkedkernel-b differs from prelinkedkernel-a", a[0][1] != b[0][1],
                "decoded -b image is byte-identical to -a (fixture not a different cache)")

    # 5. real data
    real = os.path.normpath(os.path.join(REPO, "..", "shared", "realdata"))
    if not os.path.isdir(real):
        print("skip realdata: ../shared/realdata not found")
    else:
        kb = os.path.join(real, "kext_bundles")
        if os.path.isdir(kb):
            targets = sorted(
                os.path.join(kb, d, "Contents", "MacOS", "IOKitTest")
                for d in os.listdir(kb) if d.endswith(".kext"))
            targets.append(os.path.join(kb, "IOAudioFamily-300.6.1.macho"))
            for p in targets:
                if not os.path.exists(p):
                    continue
                lb = "realdata/" + os.path.relpath(p, real)
                guarded(r, lb, check_file, r, O, kcheck, p, lb, "mach-o", images, None)
        else:
            print(f"skip realdata kexts: {kb} not found")
        for name in ("pyimg4-IM4P.bin", "pyimg4-IMG4.bin"):
            p = os.path.join(real, "img4", name)
            if not os.path.exists(p):
                print(f"skip realdata {name}: not found")
                continue
            lb = f"realdata/img4/{name}"
            guarded(r, lb, check_realdata_img4, r, O, kcheck, p, lb, images)

    print(f"crosscheck: {r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


def check_realdata_img4(r, O, kcheck, path, label, images):
    pyimg4 = O["pyimg4"]
    with open(path, "rb") as fh:
        data = fh.read()
    if der_fourcc(data) == "IMG4":
        g = pyimg4.IMG4(data)
        im, prefix = g.im4p, ["img4"]
    else:
        im, prefix = pyimg4.IM4P(data), []
    payload = bytes(im.payload.data)
    r.eq(f"{label}: pyimg4 fourcc", im.fourcc, "test", "pyimg4")
    dec = check_file(r, O, kcheck, path, label, "mach-o", images, None)
    info = run_kcheck(kcheck, "info", "--json", path)
    want_layers = prefix + [f"im4p[{im.fourcc}]"]
    r.eq(f"{label}: layers[:{len(want_layers)}] (pyimg4)", info.get("layers", [])[:len(want_layers)],
         want_layers, "pyimg4")
    r.eq(f"{label}: image_size == len(pyimg4 payload)", info.get("image_size"), len(payload), "pyimg4")
    if dec is not None:
        r.check(f"{label}: oracle image == pyimg4 payload", dec.image == payload,
                f"decoded {len(dec.image)} bytes vs payload {len(payload)} bytes")


if __name__ == "__main__":
    sys.exit(main())
