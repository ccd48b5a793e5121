#!/usr/bin/env python3
"""Time the reference decoders on the compressed stream inside a kernel cache.

    decode_reference.py FILE [--repeat K] [--expect RAW]
    decode_reference.py FILE --write-stream OUT

FILE is one of the containers `kcheck` reads and whose payload it has to
decompress before it can list kexts:

  fat-lzvn / comp-lzvn   FAT (optional) + Apple `comp` header + raw LZVN
                         -> the LZFSE reference C decoder (package `lzfse`)
                            fed a synthetic `bvxn` block
  fat-lzss / comp-lzss   FAT (optional) + Apple `comp` header + Apple LZSS
                         -> pylzss (`import lzss`)
  im4p-lzfse             IM4P DER with a `bvx2` LZFSE payload
                         -> pyimg4 extracts the payload (not timed),
                            `lzfse.decompress` decodes it (timed)
  im4p-lzss              IM4P with a `complzss` payload -> pylzss

(An IMG4 wrapper is not supported: pyimg4 needs an IM4M to parse one.)

The file is read and the container headers parsed first; only the
decompression call is timed (time.perf_counter, K runs). The output
is then checked: its length must equal the size the container declares, and
for `comp` containers its Adler-32 must equal the header's. With --expect the
output must also equal that file byte for byte (e.g. the matching plk-N.raw).

Prints one line:

    ref-decode <kind> <min s> <median s> <max s> <MB/s of output at the median>

(MB = 10^6 bytes.) Exit status 0 on success, 1 if a check fails, 2 on a
usage or container error.

--write-stream OUT writes the stream for the reference C decoder
(bench/ref_decode.c, `lzfse_decode_buffer`) to OUT instead of timing
anything: the IM4P's LZFSE payload as it is, or the raw LZVN stream of a
`comp` container wrapped in a `bvxn` block and a `bvx$` marker. It prints

    stream <kind> <declared decoded size> <stream bytes>

(LZSS has no such decoder: exit status 2.)
"""

import argparse
import statistics
import struct
import sys
import time
import zlib

FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
CPU_TYPE_X86_64 = 0x01000007
CPU_TYPE_ARM64 = 0x0100000C
COMP_HEADER_SIZE = 0x180


class ContainerError(Exception):
    pass


def pick_fat_slice(data):
    """Return (offset, size) of the x86_64 slice (else arm64, else the first)."""
    magic, nfat = struct.unpack_from(">II", data, 0)
    slices = []
    if magic == FAT_MAGIC:
        for i in range(nfat):
            cputype, _sub, off, size, _align = struct.unpack_from(">iiIII", data, 8 + 20 * i)
            slices.append((cputype & 0xFFFFFFFF, off, size))
    else:
        for i in range(nfat):
            cputype, _sub, off, size, _align, _res = struct.unpack_from(">iiQQII", data, 8 + 32 * i)
            slices.append((cputype & 0xFFFFFFFF, off, size))
    if not slices:
        raise ContainerError("FAT header with no slices")
    for want in (CPU_TYPE_X86_64, CPU_TYPE_ARM64):
        for cputype, off, size in slices:
            if cputype == want:
                return off, size
    return slices[0][1], slices[0][2]


def parse_comp(data, base):
    """Parse Apple's 0x180-byte big-endian `comp` header at `base`."""
    if data[base:base + 4] != b"comp":
        raise ContainerError(f"no 'comp' magic at offset {base:#x}")
    ctype = data[base + 4:base + 8]
    adler, usize, csize = struct.unpack_from(">III", data, base + 8)
    start = base + COMP_HEADER_SIZE
    if start + csize > len(data):
        raise ContainerError(f"compressed size {csize:#x} runs past the end of the file")
    return ctype, adler, usize, data[start:start + csize]


def bvxn_block(stream, usize):
    """The reference library has no LZVN entry point: wrap the raw stream in
    an LZFSE `bvxn` block header (magic, n_raw_bytes, n_payload_bytes) and an
    end-of-stream marker."""
    return b"bvxn" + struct.pack("<II", usize, len(stream)) + stream + b"bvx$"


def lzvn_decoder(block):
    import lzfse

    return lambda: lzfse.decompress(block)


def lzss_decoder(stream):
    import lzss

    return lambda: lzss.decompress(stream)


def lzfse_decoder(payload):
    import lzfse

    return lambda: lzfse.decompress(payload)


def prepare(data):
    """Return (kind, decode_fn, declared_size, adler32_or_None, lzfse_stream_or_None)."""
    if len(data) < 8:
        raise ContainerError("file too short")
    magic = struct.unpack_from(">I", data, 0)[0]
    prefix = ""
    base = 0
    if magic in (FAT_MAGIC, FAT_MAGIC_64):
        base, _size = pick_fat_slice(data)
        prefix = "fat"
    if data[base:base + 4] == b"comp":
        ctype, adler, usize, stream = parse_comp(data, base)
        kind = (prefix or "comp") + "-" + ctype.decode("latin1")
        if ctype == b"lzvn":
            block = bvxn_block(stream, usize)
            return kind, lzvn_decoder(block), usize, adler, block
        if ctype == b"lzss":
            return kind, lzss_decoder(stream), usize, adler, None
        raise ContainerError(f"unknown comp type {ctype!r}")
    if data[0] == 0x30:  # DER SEQUENCE: IM4P (or IMG4)
        import pyimg4

        try:
            im4p = pyimg4.IM4P(data)
        except Exception as e:  # e.g. an IMG4 wrapper, which pyimg4 reads only with an IM4M
            raise ContainerError(f"pyimg4 cannot read this as an IM4P: {e}") from None
        payload = im4p.payload.data
        declared = getattr(im4p.payload, "size", None)
        if payload[:8] == b"complzss":
            # pyimg4's own decompress() feeds the header to lzss: do it by hand.
            adler, usize, csize = struct.unpack_from(">III", payload, 8)
            stream = payload[COMP_HEADER_SIZE:COMP_HEADER_SIZE + csize]
            return "im4p-lzss", lzss_decoder(stream), usize, adler, None
        if payload[:3] == b"bvx":
            return "im4p-lzfse", lzfse_decoder(payload), declared, None, bytes(payload)
        raise ContainerError(f"IM4P payload is neither complzss nor LZFSE ({payload[:4]!r})")
    raise ContainerError("not a FAT, comp or IM4P container (a raw Mach-O needs no decoding)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs; min, median and max are reported (default 5)")
    ap.add_argument("--expect", metavar="RAW", help="also require the output to equal this file")
    ap.add_argument("--write-stream", metavar="OUT", help="write the LZFSE stream for ref_decode.c and exit")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    with open(args.file, "rb") as f:
        data = f.read()
    try:
        kind, decode, declared, adler, lzfse_stream = prepare(data)
    except (ContainerError, struct.error, ImportError) as e:
        print(f"decode_reference.py: {args.file}: {e}", file=sys.stderr)
        return 2
    del data

    if args.write_stream:
        if lzfse_stream is None or declared is None:
            print(f"decode_reference.py: {args.file}: {kind}: no LZFSE/LZVN stream to write", file=sys.stderr)
            return 2
        with open(args.write_stream, "wb") as f:
            f.write(lzfse_stream)
        print(f"stream {kind} {declared} {len(lzfse_stream)}")
        return 0

    times = []
    out = None
    for _ in range(args.repeat):
        out = None  # free the previous output before the next run
        t0 = time.perf_counter()
        out = decode()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = statistics.median(times)

    if declared is not None and len(out) != declared:
        print(f"decode_reference.py: {args.file}: {kind}: decoded {len(out)} bytes, "
              f"container declares {declared}", file=sys.stderr)
        return 1
    if adler is not None:
        got = zlib.adler32(out) & 0xFFFFFFFF
        if got != adler:
            print(f"decode_reference.py: {args.file}: {kind}: adler32 {got:#010x}, "
                  f"header says {adler:#010x}", file=sys.stderr)
            return 1
    if args.expect:
        with open(args.expect, "rb") as f:
            if f.read() != out:
                print(f"decode_reference.py: {args.file}: {kind}: output differs from {args.expect}",
                      file=sys.stderr)
                return 1

    print(f"ref-decode {kind} {times[0]:.6f} {median:.6f} {times[-1]:.6f} {len(out) / 1e6 / median:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
