#!/usr/bin/env python3
"""List the kexts of a raw prelinked kernel or kernel collection with LIEF.

    list_kexts_lief.py FILE [--json] [--compare KCHECK_JSON] [--time K]

An independent lister, written the way an administrator would script it
with off-the-shelf Python tools; `bench/compare.sh` times it against
`kcheck kexts` and uses it to cross-check kcheck's output.

FILE must be an uncompressed Mach-O (no FAT, comp or IM4P wrapper):

  MH_EXECUTE prelinked kernel   LIEF finds `__PRELINK_INFO,__info`; the
      XML is parsed (see below); each kext's `_PrelinkExecutableSourceAddr`
      is mapped into `__PRELINK_TEXT` to a file offset, and the kext's
      Mach-O header there is read with `struct` for its LC_UUID.
  MH_FILESET kernel collection  the same XML from the top-level binary's
      `__PRELINK_INFO`; each kext's load address and UUID come from its
      LC_FILESET_ENTRY (LIEF `binary.filesets`).

The kernel writes its XML without a `<?xml?>`/`<plist>` header, shares
repeated values with `ID="n"` / `IDREF="n"` attributes and writes integers
in hex. The XML is parsed with `xml.etree.ElementTree` (wrapped in a
`<plist>` element when it has none) and converted with an ID table
(`plistlib` would read an `IDREF` element as an empty value).

Output: a summary line (kext count, codeless count, total executable
size); `--json` prints the list instead, with kcheck's field names.
`--compare FILE` reads `kcheck kexts --json` output and checks every field
of every kext (count, order, bundle id, version, UUID, bundle path,
executable path, load address, size) plus the `_PrelinkKCID`; exit status
1 on any difference.

`--time K` lists the file K times in this one process (after `import lief`,
the imports above and one untimed listing) and prints

    lief-list <min s> <median s> <max s> <kexts> <import lief s>

(time.perf_counter around each whole listing: reading the file, LIEF's
parse, the XML, the per-kext work), so that the listing work is timed
without the interpreter's and LIEF's start-up; `<import lief s>` is the
time `import lief` took in this process. bench/compare.sh times the
start-up (`python -c "import lief, xml.etree.ElementTree"`) and the whole
process separately.
"""

import argparse
import base64
import json
import statistics
import struct
import sys
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET

_T1 = time.perf_counter()
import lief  # noqa: E402

IMPORT_LIEF_S = time.perf_counter() - _T1

MH_MAGIC_64 = 0xFEEDFACF
LC_UUID = 0x1B


# --- the kernel's XML dialect ------------------------------------------------

def _int(text):
    t = (text or "").strip()
    neg = t.startswith("-")
    if neg:
        t = t[1:]
    v = int(t, 16) if t[:2] in ("0x", "0X") else int(t, 10)
    return -v if neg else v


def _convert(el, ids):
    ref = el.get("IDREF")
    if ref is not None:
        return ids[ref]
    tag = el.tag
    if tag == "dict":
        children = list(el)
        value = {}
        for k, v in zip(children[0::2], children[1::2]):
            key = _convert(k, ids) if k.get("IDREF") is not None else (k.text or "")
            value[key] = _convert(v, ids)
    elif tag in ("array", "set"):
        value = [_convert(c, ids) for c in el]
    elif tag in ("string", "key"):
        value = el.text or ""
    elif tag == "integer":
        value = _int(el.text)
    elif tag == "data":
        value = base64.b64decode("".join((el.text or "").split()))
    elif tag == "true":
        value = True
    elif tag == "false":
        value = False
    elif tag == "real":
        value = float(el.text)
    else:  # <date> and anything else: keep the text
        value = el.text or ""
    ident = el.get("ID")
    if ident is not None:
        ids[ident] = value
    return value


def parse_prelink_xml(raw):
    """Parse the `__PRELINK_INFO,__info` bytes into a Python dict."""
    xml = raw.split(b"\0", 1)[0].strip()
    if xml.startswith(b"<?xml") or b"<plist" in xml[:400]:
        root = ET.fromstring(xml)  # a whole plist document (header, DOCTYPE)
    else:
        root = ET.fromstring(b"<plist>" + xml + b"</plist>")
    top = [c for c in root]
    if len(top) != 1:
        raise ValueError(f"expected one top-level element in __PRELINK_INFO, found {len(top)}")
    return _convert(top[0], {})


# --- Mach-O bits ---------------------------------------------------------------

def uuid_from_header(data, off):
    """LC_UUID of the mach_header_64 at file offset `off`, or None."""
    if off < 0 or off + 32 > len(data):
        return None
    magic, _cpu, _sub, _ft, ncmds, sizeofcmds = struct.unpack_from("<IiiIII", data, off)
    if magic != MH_MAGIC_64:
        return None
    p = off + 32
    end = min(p + sizeofcmds, len(data))
    for _ in range(ncmds):
        if p + 8 > end:
            break
        cmd, cmdsize = struct.unpack_from("<II", data, p)
        if cmd == LC_UUID and cmdsize >= 24:
            return str(uuidlib.UUID(bytes=bytes(data[p + 8:p + 24]))).upper()
        if cmdsize < 8:
            break
        p += cmdsize
    return None


def fmt_uuid(lief_uuid):
    return str(uuidlib.UUID(bytes=bytes(lief_uuid))).upper()


def section_bytes(binary, seg, sect):
    s = binary.get_section(seg, sect)
    if s is None:
        raise ValueError(f"no {seg},{sect} section")
    return bytes(s.content)


def kc_id_of(info):
    v = info.get("_PrelinkKCID")
    return str(uuidlib.UUID(bytes=v)).upper() if isinstance(v, bytes) and len(v) == 16 else None


def base_entry(d):
    return {
        "bundle_id": d.get("CFBundleIdentifier"),
        "version": d.get("CFBundleVersion"),
        "uuid": None,
        "bundle_path": d.get("_PrelinkBundlePath"),
        "executable_relative_path": d.get("_PrelinkExecutableRelativePath"),
        "load_address": None,
        "executable_size": None,
    }


def list_prelinked(binary, data):
    info = parse_prelink_xml(section_bytes(binary, "__PRELINK_INFO", "__info"))
    text = binary.get_segment("__PRELINK_TEXT")
    kexts = []
    for d in info.get("_PrelinkInfoDictionary", []):
        k = base_entry(d)
        src = d.get("_PrelinkExecutableSourceAddr")
        if src is not None:
            k["load_address"] = f"{d.get('_PrelinkExecutableLoadAddr', src):#x}"
            k["executable_size"] = d.get("_PrelinkExecutableSize")
            if text is not None and text.virtual_address <= src < text.virtual_address + text.virtual_size:
                k["uuid"] = uuid_from_header(data, text.file_offset + (src - text.virtual_address))
        kexts.append(k)
    return info, kexts


def list_fileset(binary):
    info = parse_prelink_xml(section_bytes(binary, "__PRELINK_INFO", "__info"))
    entries = {}
    for fs in binary.filesets:
        entries[fs.fileset_name] = fs
    kexts = []
    for d in info.get("_PrelinkInfoDictionary", []):
        k = base_entry(d)
        fs = entries.get(k["bundle_id"])
        if fs is not None:
            k["load_address"] = f"{fs.fileset_addr:#x}"
            k["uuid"] = fmt_uuid(fs.uuid.uuid) if fs.has_uuid else None
            size = d.get("_PrelinkExecutableSize")
            if size is None:
                size = sum(s.virtual_size for s in fs.segments if s.name != "__LINKEDIT")
            k["executable_size"] = size
        kexts.append(k)
    return info, kexts


def list_kexts(path):
    with open(path, "rb") as f:
        data = f.read()
    fat = lief.MachO.parse(path)
    if fat is None or fat.size == 0:
        raise ValueError("LIEF could not parse this file as Mach-O")
    binary = fat.at(0)
    if binary.has_filesets:
        kind = "kernel-collection"
        info, kexts = list_fileset(binary)
    else:
        kind = "prelinked-kernel"
        info, kexts = list_prelinked(binary, data)
    return {"file": path, "kind": kind, "kc_id": kc_id_of(info), "kexts": kexts}


# --- comparison with kcheck -------------------------------------------------------

FIELDS = ["bundle_id", "version", "uuid", "bundle_path", "executable_relative_path", "load_address",
          "executable_size"]


def norm_addr(v):
    return None if v is None else int(v, 16) if isinstance(v, str) else int(v)


def compare(mine, theirs):
    problems = []
    if theirs.get("kc_id") != mine["kc_id"]:
        problems.append(f"kc_id: kcheck {theirs.get('kc_id')} lief {mine['kc_id']}")
    a, b = mine["kexts"], theirs.get("kexts", [])
    if len(a) != len(b):
        problems.append(f"kext count: kcheck {len(b)} lief {len(a)}")
    for i, (m, t) in enumerate(zip(a, b)):
        for f in FIELDS:
            mv, tv = m.get(f), t.get(f)
            if f == "load_address":
                mv, tv = norm_addr(mv), norm_addr(tv)
            if mv != tv:
                problems.append(f"kext {i} ({m.get('bundle_id')}): {f}: kcheck {tv!r} lief {mv!r}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--json", action="store_true", help="print the kext list as JSON")
    ap.add_argument("--compare", metavar="KCHECK_JSON", help="check against `kcheck kexts --json` output")
    ap.add_argument("--time", type=int, metavar="K", help="time K listings in this process and print the figures")
    args = ap.parse_args()
    lief.logging.disable()
    if args.time is not None:
        if args.time < 1:
            ap.error("--time must be at least 1")
        list_kexts(args.file)  # one untimed listing: the file in the page cache, LIEF warm
        times = []
        n = 0
        for _ in range(args.time):
            t0 = time.perf_counter()
            n = len(list_kexts(args.file)["kexts"])
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"lief-list {times[0]:.6f} {statistics.median(times):.6f} {times[-1]:.6f} {n} {IMPORT_LIEF_S:.6f}")
        return 0
    try:
        result = list_kexts(args.file)
    except (ValueError, KeyError, ET.ParseError, struct.error) as e:
        print(f"list_kexts_lief.py: {args.file}: {e}", file=sys.stderr)
        return 2

    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        kexts = result["kexts"]
        codeless = sum(1 for k in kexts if k["load_address"] is None)
        total = sum(k["executable_size"] or 0 for k in kexts)
        print(f"{args.file}: {result['kind']}, {len(kexts)} kexts ({codeless} codeless), "
              f"{total} bytes of executables in all")

    if args.compare:
        with open(args.compare) as f:
            theirs = json.load(f)
        problems = compare(result, theirs)
        if problems:
            for p in problems[:20]:
                print(f"MISMATCH {p}", file=sys.stderr)
            if len(problems) > 20:
                print(f"MISMATCH … and {len(problems) - 20} more", file=sys.stderr)
            return 1
        print(f"match: {len(result['kexts'])} kexts, every field equal to kcheck's", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
