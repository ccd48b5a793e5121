#!/usr/bin/env bash
# Comparison benchmark: kcheck against Apple's reference LZFSE/LZVN C decoder
# and an in-process LIEF + ElementTree kext lister, on the same generated
# caches and system roots; the targets of issue 15. See bench/README.md.
#
#   bench/compare.sh [--scale N] [--runs K] [--out PATH] [--quick]
#                    [--no-scaling] [--no-11] [--root DIR] [--root-11 DIR]
#                    [--strict] [--no-build]
#
#   --scale N     kexts in the caches and roots (default 600: ~64 MB raw
#                 prelinked kernel; 209 MB of 11+ boot + system collections)
#   --runs K      timed runs per command (default 5); medians are reported,
#                 with min and max. Fewer than 5 is a smoke test only.
#   --out PATH    Markdown report: a file ending in .md, or a directory to
#                 write report.md into (default target/bench/report.md)
#   --quick       scaling table for N = 100, 300, 600 only (no 1200), and
#                 no LIEF timing on the kernel collection (its cross-check
#                 still runs)
#   --no-scaling  skip the scaling table
#   --no-11       skip the macOS 11+ root
#   --root DIR    time `kcheck verify` on this 10.15 root instead of the one
#                 `gen_fixtures --scale-root N` writes
#   --root-11 DIR the same for the 11+ root (`--scale-root-11 N`)
#   --strict      exit 1 when a target is missed (default: report only)
#   --no-build    use the existing kcheck and gen_fixtures binaries
#
# Timer: BENCH_TIMER_CMD names a benchmark harness called as
#   $BENCH_TIMER_CMD -n K --warmup 1 --timeout S [--vs 'B'] -- A ARGS...
# that prints "A wall s MIN MEDIAN MAX" rows (and "B wall s", "A/B wall"
# with --vs: A and B run in turn, the ratio taken pair by pair). Without it,
# hyperfine is used when installed, else a bash loop (A and B in turn);
# BENCH_TIMER=hyperfine|loop forces one of those two.
#
# Inputs go to target/bench/ (not committed), the Python venv with the
# reference tools to target/bench-venv and the reference C decoder to
# target/bench/ref-c (both reused when present), per-command logs to
# target/bench/logs/.
set -euo pipefail

die() { echo "compare.sh: $*" >&2; exit 1; }
note() { echo "compare.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

SCALE=600
OUT=target/bench/report.md
QUICK=0
SCALING=1
DO11=1
RUNS=5
ROOT_DIR=
ROOT11_DIR=
STRICT=0
BUILD=1
ARGS_SEEN="$*"
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE=${2:?--scale takes a number}; shift 2 ;;
        --out) OUT=${2:?--out takes a path}; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --no-scaling) SCALING=0; shift ;;
        --no-11) DO11=0; shift ;;
        --runs) RUNS=${2:?--runs takes a number}; shift 2 ;;
        --root) ROOT_DIR=${2:?--root takes a directory}; shift 2 ;;
        --root-11) ROOT11_DIR=${2:?--root-11 takes a directory}; shift 2 ;;
        --strict) STRICT=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
done
[[ "$SCALE" =~ ^[0-9]+$ && "$SCALE" -gt 0 ]] || die "--scale must be a positive integer"
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -gt 0 ]] || die "--runs must be a positive integer"
case "$OUT" in *.md) ;; *) OUT="${OUT%/}/report.md" ;; esac
[ -z "$ROOT_DIR" ] || [ -d "$ROOT_DIR" ] || die "--root $ROOT_DIR is not a directory"
[ -z "$ROOT11_DIR" ] || [ -d "$ROOT11_DIR" ] || die "--root-11 $ROOT11_DIR is not a directory"

BENCH=target/bench
LOGS=$BENCH/logs
VENV=target/bench-venv
rm -rf "$LOGS"
mkdir -p "$BENCH" "$LOGS" "$(dirname "$OUT")"

# ---------------------------------------------------------------- tools
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }
need cargo "install a Rust toolchain (https://rustup.rs)"
need python3 "install Python 3.9+ (apt-get install -y python3 python3-venv)"
need cc "install a C compiler (apt-get install -y gcc)"
need sha256sum "install coreutils"
[ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1 \
    || die "/usr/bin/time (GNU time, for peak memory) not found: apt-get install -y time"
if [ -n "${BENCH_TIMER_CMD:-}" ]; then
    read -r -a HARNESS <<<"$BENCH_TIMER_CMD"
    command -v "${HARNESS[0]}" >/dev/null 2>&1 || die "BENCH_TIMER_CMD: ${HARNESS[0]} not found"
    TIMER=harness
    TIMER_DESC="the benchmark harness (BENCH_TIMER_CMD), whole process, A and B in turn, ratios pair by pair"
elif [ "${BENCH_TIMER:-}" != loop ] && command -v hyperfine >/dev/null 2>&1; then
    TIMER=hyperfine
    TIMER_DESC="hyperfine $(hyperfine --version | awk '{print $2}') -N, whole process, ratios of medians"
else
    TIMER=loop
    TIMER_DESC="bash loop (date +%s.%N), whole process, A and B in turn, ratios pair by pair"
    [ "${BENCH_TIMER:-}" = loop ] || note "no BENCH_TIMER_CMD and no hyperfine (apt-get install -y hyperfine): timing with a bash loop"
fi

# ---------------------------------------------------------------- build
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
KCHECK=$TARGET/release/kcheck
GEN=$TARGET/release/examples/gen_fixtures
if [ $BUILD = 1 ]; then
    note "building kcheck and the fixture generator (cargo build --release)"
    cargo build --release --quiet --bin kcheck --example gen_fixtures >"$LOGS/build.log" 2>&1 \
        || die "cargo build --release failed (see $LOGS/build.log)"
else
    note "--no-build: using the existing $KCHECK and $GEN"
fi
[ -x "$KCHECK" ] || die "$KCHECK missing (run without --no-build)"
[ -x "$GEN" ] || die "$GEN missing (run without --no-build)"

# ---------------------------------------------------------------- venv
PY=$VENV/bin/python
ORACLES="import lief, lzfse, lzss, pyimg4"
if [ -x "$PY" ] && "$PY" -c "$ORACLES" 2>/dev/null; then
    note "reusing the Python venv $VENV"
else
    note "setting up the Python venv $VENV (pip install -r scripts/requirements-oracles.txt)"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install -y python3-venv)"
    "$PY" -m pip install --quiet -r scripts/requirements-oracles.txt >"$LOGS/pip.log" 2>&1 \
        || die "pip install -r scripts/requirements-oracles.txt failed (see $LOGS/pip.log)"
    "$PY" -c "$ORACLES" || die "the reference tools do not import after pip install"
fi

# ---------------------------------------------------------------- reference C decoder
# Apple's LZFSE/LZVN reference code, as the `lzfse` package's sdist ships it
# (the version pinned in scripts/requirements-oracles.txt), compiled with
# cc -O2 into $REFC/ref_decode. Falls back to a system liblzfse (lzfse.h +
# -llzfse) when the sdist cannot be had.
REFC=$BENCH/ref-c
REF=$REFC/ref_decode
LZFSE_PIN=$(awk -F'==' '/^lzfse==/ { split($2, a, " "); print a[1] }' scripts/requirements-oracles.txt)
if [ -x "$REF" ] && [ "$REF" -nt bench/ref_decode.c ]; then
    note "reusing the reference C decoder $REF"
else
    mkdir -p "$REFC"
    src=$(find "$REFC" -maxdepth 4 -name lzfse_decode_base.c -printf '%h\n' 2>/dev/null | head -n 1)
    if [ -z "$src" ]; then
        note "fetching the lzfse ${LZFSE_PIN:-?} sdist for its C sources (pip download --no-binary :all:)"
        if "$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$REFC" "lzfse${LZFSE_PIN:+==$LZFSE_PIN}" \
            >"$LOGS/pip-download-lzfse.log" 2>&1; then
            tar -xzf "$REFC"/lzfse-*.tar.gz -C "$REFC"
            src=$(find "$REFC" -maxdepth 4 -name lzfse_decode_base.c -printf '%h\n' | head -n 1)
        fi
    fi
    if [ -n "$src" ]; then
        REF_SRC="lzfse ${LZFSE_PIN} sdist"
        cc -O2 -I "$src" -o "$REF" bench/ref_decode.c "$src/lzfse_decode.c" "$src/lzfse_decode_base.c" \
            "$src/lzfse_fse.c" "$src/lzvn_decode_base.c" >"$LOGS/cc.log" 2>&1 \
            || die "compiling bench/ref_decode.c failed (see $LOGS/cc.log)"
    elif [ -f /usr/include/lzfse.h ]; then
        cc -O2 -o "$REF" bench/ref_decode.c -llzfse >"$LOGS/cc.log" 2>&1 \
            || die "compiling bench/ref_decode.c against the system liblzfse failed (see $LOGS/cc.log)"
    else
        die "no LZFSE C sources: pip download of the lzfse sdist failed (see $LOGS/pip-download-lzfse.log) and no system lzfse.h (apt-get install -y liblzfse-dev)"
    fi
fi
if [ -f "$REFC/source" ] && [ -z "${REF_SRC:-}" ]; then REF_SRC=$(cat "$REFC/source"); fi
if [ -z "${REF_SRC:-}" ]; then REF_SRC="system liblzfse"; fi
echo "$REF_SRC" >"$REFC/source"

# ---------------------------------------------------------------- inputs
# gen N: write plk-N.{raw,fat-lzvn,comp-lzss,im4p-lzfse} and kc-N.kc unless
# they exist and are newer than the generator.
gen() {
    local n=$1 f fresh=1
    for f in plk-$n.raw plk-$n.fat-lzvn plk-$n.comp-lzss plk-$n.im4p-lzfse kc-$n.kc; do
        [ -s "$BENCH/$f" ] && [ "$BENCH/$f" -nt "$GEN" ] || fresh=0
    done
    if [ $fresh = 1 ]; then return 0; fi
    note "generating caches with $n kexts into $BENCH"
    "$GEN" --scale "$n" "$BENCH" >"$LOGS/gen-$n.log" 2>&1 || die "gen_fixtures --scale $n failed (see $LOGS/gen-$n.log)"
}
# gen_root FLAG N DIR: a system root as DIR/root unless it is newer than the
# generator. (Never run gen_fixtures without arguments or with --help: it
# then rewrites the committed testdata/.)
gen_root() {
    local flag=$1 n=$2 dir=$3
    if [ -d "$dir/root/System" ] && [ "$dir/root" -nt "$GEN" ]; then return 0; fi
    note "generating a system root with $n kexts into $dir (gen_fixtures $flag $n)"
    "$GEN" "$flag" "$n" "$dir" >"$LOGS/gen$flag-$n.log" 2>&1 \
        || die "gen_fixtures $flag $n failed (see $LOGS/gen$flag-$n.log)"
    [ -d "$dir/root/System" ] || die "gen_fixtures $flag wrote no $dir/root/System"
}

# ---------------------------------------------------------------- timing
# Every timing prints "min median max" in seconds (wall clock, whole
# process unless said otherwise); a failing run fails the measurement.
TIMEOUT=3600
logname() { echo "$LOGS/${1//[^A-Za-z0-9._-]/_}"; }
stats() { python3 -c '
import statistics, sys
t = sorted(float(x) for x in sys.argv[1:])
print("%.6f %.6f %.6f" % (t[0], statistics.median(t), t[-1]))' "$@"; }

harness_row() { # FILE ROWNAME -> "min median max"
    awk -v row="$2" '{ line = $0; sub(/^ +/, "", line) } index(line, row " ") == 1 {
        n = split(line, f, / +/); print f[n - 2], f[n - 1], f[n]; found = 1; exit }
        END { if (!found) exit 1 }' "$1"
}
harness_ok() { # FILE WHO: every counted run of WHO exited 0
    grep -Eq "^$2 exit 0 \(([0-9]+) of \1\)" "$1"
}

# time_cmd LABEL CMD...: "min median max".
time_cmd() {
    local label=$1; shift
    local log; log=$(logname "$label")
    case $TIMER in
    harness)
        "${HARNESS[@]}" -n "$RUNS" --warmup 1 --timeout "$TIMEOUT" -- "$@" >"$log.timer" 2>&1 \
            || die "measurement '$label' failed: $* (see $log.timer)"
        harness_ok "$log.timer" A || die "measurement '$label': a run failed: $* (see $log.timer)"
        harness_row "$log.timer" "A wall s" || die "measurement '$label': no wall row (see $log.timer)"
        ;;
    hyperfine)
        local cmd; cmd=$(printf '%q ' "$@")
        hyperfine -N --warmup 1 --runs "$RUNS" --style none --export-json "$log.json" -- "$cmd" \
            >"$log.timer" 2>&1 || die "measurement '$label' failed: $cmd (see $log.timer)"
        python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["results"][0]; print("%.6f %.6f %.6f" % (r["min"], r["median"], r["max"]))' "$log.json"
        ;;
    loop)
        local i s e ts=()
        "$@" >/dev/null 2>"$log.err" || die "measurement '$label' failed: $* (see $log.err)"
        for ((i = 0; i < RUNS; i++)); do
            s=$(date +%s.%N)
            "$@" >/dev/null 2>"$log.err" || die "measurement '$label' failed: $* (see $log.err)"
            e=$(date +%s.%N)
            ts+=("$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.6f", e - s }')")
        done
        stats "${ts[@]}"
        ;;
    esac
}

# time_pair LABEL B_STRING A...: A and B side by side. B is one string
# split as the shell splits words (no quoting inside). Prints
# "Amin Amed Amax Bmin Bmed Bmax Rmin Rmed Rmax" with R = A/B.
time_pair() {
    local label=$1 b=$2; shift 2
    local log; log=$(logname "$label")
    local -a bcmd
    read -r -a bcmd <<<"$b"
    case $TIMER in
    harness)
        "${HARNESS[@]}" -n "$RUNS" --warmup 1 --timeout "$TIMEOUT" --vs "$b" -- "$@" >"$log.timer" 2>&1 \
            || die "measurement '$label' failed: $* vs $b (see $log.timer)"
        if ! harness_ok "$log.timer" A || ! harness_ok "$log.timer" B; then
            die "measurement '$label': a run failed (see $log.timer)"
        fi
        echo "$(harness_row "$log.timer" "A wall s") $(harness_row "$log.timer" "B wall s") $(harness_row "$log.timer" "A/B wall")"
        ;;
    hyperfine)
        local cmd; cmd=$(printf '%q ' "$@")
        hyperfine -N --warmup 1 --runs "$RUNS" --style none --export-json "$log.json" -- "$cmd" "$b" \
            >"$log.timer" 2>&1 || die "measurement '$label' failed: $cmd vs $b (see $log.timer)"
        python3 -c '
import json, sys
a, b = json.load(open(sys.argv[1]))["results"][:2]
r = a["median"] / b["median"]
print("%.6f %.6f %.6f %.6f %.6f %.6f %.4f %.4f %.4f" % (a["min"], a["median"], a["max"], b["min"], b["median"], b["max"], r, r, r))' "$log.json"
        ;;
    loop)
        local i s m e ta=() tb=()
        "$@" >/dev/null 2>"$log.err" || die "measurement '$label' failed: $* (see $log.err)"
        "${bcmd[@]}" >/dev/null 2>>"$log.err" || die "measurement '$label' failed: $b (see $log.err)"
        for ((i = 0; i < RUNS; i++)); do
            s=$(date +%s.%N)
            "$@" >/dev/null 2>"$log.err" || die "measurement '$label' failed: $* (see $log.err)"
            m=$(date +%s.%N)
            "${bcmd[@]}" >/dev/null 2>>"$log.err" || die "measurement '$label' failed: $b (see $log.err)"
            e=$(date +%s.%N)
            ta+=("$(awk -v s="$s" -v e="$m" 'BEGIN { printf "%.6f", e - s }')")
            tb+=("$(awk -v s="$m" -v e="$e" 'BEGIN { printf "%.6f", e - s }')")
        done
        python3 -c '
import statistics, sys
n = len(sys.argv) // 2
a = [float(x) for x in sys.argv[1:n + 1]]
b = [float(x) for x in sys.argv[n + 1:]]
r = sorted(x / y for x, y in zip(a, b))
f = lambda t: (min(t), statistics.median(t), max(t))
print("%.6f %.6f %.6f %.6f %.6f %.6f %.4f %.4f %.4f" % (f(a) + f(b) + f(r)))' "${ta[@]}" "${tb[@]}"
        ;;
    esac
}

# peak_kb LABEL CMD...: maximum resident set size (KiB) of one run, from
# GNU time -v. Exit status 0..2 is accepted (verify's verdicts).
peak_kb() {
    local label=$1; shift
    local log; log=$(logname "mem-$label")
    local rc=0
    /usr/bin/time -v -o "$log.time" "$@" >/dev/null 2>"$log.err" || rc=$?
    [ $rc -le 2 ] || die "memory run '$label' failed with status $rc: $* (see $log.err)"
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$log.time"
}

fsize() { stat -c %s "$1"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
f3() { awk -v a="$1" 'BEGIN { printf "%.4f", a }'; }
mmm() { echo "$(f3 "$1") / $(f3 "$2") / $(f3 "$3")"; } # min / median / max
json_field() { python3 -c 'import json,sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print("" if v is None else v)' "$1" "$2"; }
mem() { # LABEL LIMIT_BYTES_OR_- CMD...
    local label=$1 limit=$2; shift 2
    local kb; kb=$(peak_kb "$label" "$@")
    [ -n "$kb" ] || die "no peak memory figure for '$label'"
    local lim=- met=-
    if [ "$limit" != - ]; then
        lim=$(mib "$limit")
        if le "$((kb * 1024))" "$limit"; then met=yes; else met=NO; fi
    fi
    MEMROWS+=("$label|$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')|$lim|$met")
    LASTKB=$kb
}
met_le() { if le "$1" "$2"; then echo yes; else echo NO; fi; }
met_ge() { if le "$2" "$1"; then echo yes; else echo NO; fi; }

# ---------------------------------------------------------------- result rows
TARGETS=()  # target|measured|ratio|limit|met
TIMES=()    # what|min / median / max s|
MEMROWS=()  # command|peak RSS MiB|limit MiB|met
SCALEROWS=()
NOTES=()
MISSED=0
target() { TARGETS+=("$1|$2|$3|$4|$5"); [ "$5" != NO ] || MISSED=$((MISSED + 1)); }
timed() { TIMES+=("$1|$(mmm "$2" "$3" "$4")"); }

N=$SCALE
RAW=$BENCH/plk-$N.raw
KC=$BENCH/kc-$N.kc
LZVN=$BENCH/plk-$N.fat-lzvn
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
gen "$N"
RAWSIZE=$(fsize "$RAW")
KCSIZE=$(fsize "$KC")

# ---------------------------------------------------------------- correctness first
note "checking outputs before timing (LIEF cross-check, C decoder against plk-$N.raw)"
for f in "$RAW" "$KC"; do
    b=$(basename "$f")
    "$KCHECK" kexts --json "$f" >"$LOGS/$b.kcheck.json" || die "kcheck kexts --json $f failed"
    "$PY" bench/list_kexts_lief.py "$f" --compare "$LOGS/$b.kcheck.json" >"$LOGS/$b.lief.txt" 2>&1 \
        || die "list_kexts_lief.py disagrees with kcheck on $f (see $LOGS/$b.lief.txt)"
done
strip_file() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d["kexts"]))' "$1"; }
raw_kexts=$(strip_file "$LOGS/$(basename "$RAW").kcheck.json")
for ext in fat-lzvn comp-lzss im4p-lzfse; do
    f=$BENCH/plk-$N.$ext
    "$KCHECK" kexts --json "$f" >"$LOGS/plk-$N.$ext.kcheck.json" || die "kcheck kexts --json $f failed"
    [ "$(strip_file "$LOGS/plk-$N.$ext.kcheck.json")" = "$raw_kexts" ] \
        || die "kcheck lists different kexts for $f than for $RAW"
done
# stream FILE: write FILE's LZFSE/LZVN stream for ref_decode to
# $BENCH/streams/ and print "PATH DECODED_SIZE".
mkdir -p "$BENCH/streams"
stream() {
    local out; out=$BENCH/streams/$(echo "${1#"$BENCH"/}" | tr '/ ' '__').bvx
    local line
    line=$("$PY" bench/decode_reference.py "$1" --write-stream "$out" 2>>"$LOGS/streams.log") \
        || die "cannot extract the stream of $1 (see $LOGS/streams.log)"
    echo "$out $(echo "$line" | awk '{ print $3 }')"
}
read -r LZVN_STREAM LZVN_SIZE <<<"$(stream "$LZVN")"
read -r LZFSE_STREAM LZFSE_SIZE <<<"$(stream "$BENCH/plk-$N.im4p-lzfse")"
for s in "$LZVN_STREAM:$LZVN_SIZE" "$LZFSE_STREAM:$LZFSE_SIZE"; do
    "$REF" "${s%%:*}" "${s##*:}" 1 "$RAW" >>"$LOGS/ref-check.log" 2>&1 \
        || die "the reference C decoder does not reproduce $RAW from ${s%%:*} (see $LOGS/ref-check.log)"
done
info_json() { "$KCHECK" info --json "$1" >"$2" || die "kcheck info --json $1 failed"; }
info_json "$RAW" "$LOGS/info-raw.json"
PRELINK_INFO=$(json_field "$LOGS/info-raw.json" prelink_info_size)
[ -n "$PRELINK_INFO" ] || die "kcheck info --json $RAW gives no prelink_info_size"
NKEXTS=$(json_field "$LOGS/info-raw.json" kext_count)

# ref_call STREAM SIZE: the C decoder's decode call alone, RUNS decodes in
# one process (after none: every decode goes into a fresh buffer).
ref_call() {
    local line
    line=$("$REF" "$1" "$2" "$RUNS" 2>>"$LOGS/ref-call.log") || die "ref_decode $1 failed (see $LOGS/ref-call.log)"
    echo "$line" >>"$LOGS/ref-call.log"
    echo "$line" | awk '{ print $3, $4, $5 }'
}

# ---------------------------------------------------------------- (a) LIEF lister, raw cache
note "(a) kcheck kexts --json $(basename "$RAW") vs the in-process LIEF + ElementTree listing"
read -r kmin kmed kmax <<<"$(time_cmd "kexts-raw" "$KCHECK" kexts --json "$RAW")"
timed "kcheck kexts --json plk-$N.raw" "$kmin" "$kmed" "$kmax"
line=$("$PY" bench/list_kexts_lief.py "$RAW" --time "$RUNS" 2>"$LOGS/lief-time-raw.err") \
    || die "list_kexts_lief.py --time failed (see $LOGS/lief-time-raw.err)"
read -r _ lmin lmed lmax _ limport <<<"$line"
timed "LIEF + ElementTree listing of plk-$N.raw, in process (listing only)" "$lmin" "$lmed" "$lmax"
read -r smin smed smax <<<"$(time_cmd "lief-startup" "$PY" -c "import lief, xml.etree.ElementTree")"
timed "Python start-up + import lief, xml.etree.ElementTree (whole process)" "$smin" "$smed" "$smax"
read -r wmin wmed wmax <<<"$(time_cmd "lief-raw-process" "$PY" bench/list_kexts_lief.py "$RAW")"
timed "list_kexts_lief.py plk-$N.raw (whole process, with start-up)" "$wmin" "$wmed" "$wmax"
r=$(div "$lmed" "$kmed")
target "(a) \`kcheck kexts --json\` on the raw $N-kext cache ≥ 10× faster than the in-process LIEF + ElementTree listing (listing only)" \
    "$(f3 "$kmed") s vs $(f3 "$lmed") s" "${r}×" "≥ 10×" "$(met_ge "$r" 10)"
r2=$(div "$wmed" "$kmed")
target "(a′) the same, LIEF with its start-up (whole process; start-up alone $(f3 "$smed") s)" \
    "$(f3 "$kmed") s vs $(f3 "$wmed") s" "${r2}×" "-" "-"
LIMIT_A=$((16 * 1024 * 1024 + PRELINK_INFO))
mem "kcheck kexts --json plk-$N.raw" "$LIMIT_A" "$KCHECK" kexts --json "$RAW"
target "(a) peak RSS of \`kcheck kexts --json\` on the raw cache ≤ 16 MiB + __PRELINK_INFO ($(mib "$PRELINK_INFO") MiB)" \
    "$(awk -v k="$LASTKB" 'BEGIN { printf "%.1f", k / 1024 }') MiB" "-" "≤ $(mib "$LIMIT_A") MiB" \
    "$(if le "$((LASTKB * 1024))" "$LIMIT_A"; then echo yes; else echo NO; fi)"
NOTES+=("LIEF listing: \`import lief\` took $(f3 "$limport") s inside the listing process; the listing-only figure is time.perf_counter around each whole listing (read the file, LIEF parse, ElementTree, per-kext work), after one untimed listing in the same process.")

# ---------------------------------------------------------------- (b) LZVN vs the C decoder
note "(b) kcheck kexts --json $(basename "$LZVN") vs the C decoder on the same LZVN stream"
read -r ka kb kc2 pmin pmed pmax _ rmed _ <<<"$(time_pair "kexts-lzvn-vs-ref" "$REF $LZVN_STREAM $LZVN_SIZE 1" "$KCHECK" kexts --json "$LZVN")"
timed "kcheck kexts --json plk-$N.fat-lzvn" "$ka" "$kb" "$kc2"
timed "ref_decode, one LZVN decode (whole process: read + decode)" "$pmin" "$pmed" "$pmax"
read -r cmin cmed cmax <<<"$(ref_call "$LZVN_STREAM" "$LZVN_SIZE")"
timed "lzfse_decode_buffer on the LZVN stream (the call alone, $RUNS decodes in one process)" "$cmin" "$cmed" "$cmax"
r=$(div "$kb" "$cmed")
target "(b) \`kcheck kexts --json\` on the FAT > comp/LZVN cache ≤ 1.0× the C decoder's single decode of the same stream (decode call alone)" \
    "$(f3 "$kb") s vs $(f3 "$cmed") s" "${r}×" "≤ 1.00×" "$(met_le "$r" 1.0)"
target "(b′) the same against the C decoder as a whole process (read + decode), paired runs" \
    "$(f3 "$kb") s vs $(f3 "$pmed") s" "$(awk -v r="$rmed" 'BEGIN { printf "%.2f", r }')×" "-" "-"
NOTES+=("C decoder: Apple's reference LZFSE/LZVN code ($(cat "$REFC/source")), \`lzfse_decode_buffer\` called once per decode into a fresh malloc'd buffer of the declared size + 4 KiB; the LZVN stream is wrapped in a \`bvxn\` block + \`bvx\$\` (not timed); timed with clock_gettime(CLOCK_MONOTONIC).")

# LZFSE (IM4P) and LZSS: informational.
read -r a1 a2 a3 <<<"$(time_cmd "kexts-im4p-lzfse" "$KCHECK" kexts --json "$BENCH/plk-$N.im4p-lzfse")"
timed "kcheck kexts --json plk-$N.im4p-lzfse" "$a1" "$a2" "$a3"
read -r b1 b2 b3 <<<"$(ref_call "$LZFSE_STREAM" "$LZFSE_SIZE")"
timed "lzfse_decode_buffer on the IM4P's LZFSE payload (the call alone)" "$b1" "$b2" "$b3"
target "IM4P/LZFSE: \`kcheck kexts --json\` vs the C decoder's decode call (informational)" \
    "$(f3 "$a2") s vs $(f3 "$b2") s" "$(div "$a2" "$b2")×" "-" "-"
read -r a1 a2 a3 <<<"$(time_cmd "kexts-comp-lzss" "$KCHECK" kexts --json "$BENCH/plk-$N.comp-lzss")"
timed "kcheck kexts --json plk-$N.comp-lzss" "$a1" "$a2" "$a3"
line=$("$PY" bench/decode_reference.py "$BENCH/plk-$N.comp-lzss" --repeat "$RUNS" --expect "$RAW" 2>"$LOGS/ref-lzss.log") \
    || die "pylzss decode of plk-$N.comp-lzss failed (see $LOGS/ref-lzss.log)"
read -r _ _ b1 b2 b3 _ <<<"$line"
timed "pylzss lzss.decompress (the call alone, in Python)" "$b1" "$b2" "$b3"
target "comp/LZSS: \`kcheck kexts --json\` vs pylzss's decode call (informational)" \
    "$(f3 "$a2") s vs $(f3 "$b2") s" "$(div "$a2" "$b2")×" "-" "-"

# Kernel collection vs LIEF: informational (LIEF takes tens of seconds a run here).
if [ $QUICK = 0 ]; then
    note "kcheck kexts --json $(basename "$KC") vs the LIEF listing (informational)"
    read -r a1 a2 a3 <<<"$(time_cmd "kexts-kc" "$KCHECK" kexts --json "$KC")"
    timed "kcheck kexts --json kc-$N.kc" "$a1" "$a2" "$a3"
    line=$("$PY" bench/list_kexts_lief.py "$KC" --time "$RUNS" 2>"$LOGS/lief-time-kc.err") \
        || die "list_kexts_lief.py --time $KC failed (see $LOGS/lief-time-kc.err)"
    read -r _ b1 b2 b3 _ _ <<<"$line"
    timed "LIEF + ElementTree listing of kc-$N.kc, in process (listing only)" "$b1" "$b2" "$b3"
    target "kernel collection: LIEF listing / \`kcheck kexts --json\` (informational)" \
        "$(f3 "$a2") s vs $(f3 "$b2") s" "$(div "$b2" "$a2")×" "-" "-"
fi

# SHA-256: informational.
read -r a1 a2 a3 <<<"$(time_cmd "info-raw" "$KCHECK" info "$RAW")"
timed "kcheck info plk-$N.raw (SHA-256 + parse)" "$a1" "$a2" "$a3"
read -r b1 b2 b3 <<<"$(time_cmd "sha256sum-raw" sha256sum "$RAW")"
timed "sha256sum plk-$N.raw" "$b1" "$b2" "$b3"

# ---------------------------------------------------------------- (c) verify, 10.15 root
# verify_check ROOT LABEL: run verify --json once; print its exit status.
verify_check() {
    local rc=0
    "$KCHECK" verify --json --root "$1" >"$LOGS/verify-$2.json" 2>"$LOGS/verify-$2.err" || rc=$?
    [ $rc -le 2 ] || die "kcheck verify --root $1 failed with status $rc (see $LOGS/verify-$2.err)"
    echo $rc
}
# verify_caches LABEL ROLE...: absolute paths of the caches of these roles.
verify_caches() {
    python3 - "$LOGS/verify-$1.json" "${@:2}" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
roles = sys.argv[2:]
bases = [b for b in (d.get("data_root"), d.get("root")) if b]
for role in roles:
    for c in d.get("caches", []):
        if c.get("role") != role or c.get("status") != "ok":
            continue
        for b in bases:
            p = os.path.join(b, c["path"].lstrip("/"))
            if os.path.isfile(p):
                print(p)
                break
EOF
}
# verify_argv ROOT RC: the command to time (wrapped when the verdict is not healthy).
verify_argv() {
    if [ "$2" = 0 ]; then
        VARGV=("$KCHECK" verify --root "$1")
    else
        VARGV=(bash -c '"$@" >/dev/null 2>&1; [ $? -le 2 ]' verify "$KCHECK" verify --root "$1")
    fi
}

if [ -n "$ROOT_DIR" ]; then
    ROOT15=$ROOT_DIR
else
    gen_root --scale-root "$N" "$BENCH/root-$N"
    ROOT15=$BENCH/root-$N/root
fi
note "(c) kcheck verify --root $ROOT15 vs decoding its two caches"
vrc=$(verify_check "$ROOT15" 15)
verdict15=$(json_field "$LOGS/verify-15.json" verdict)
mapfile -t C15 < <(verify_caches 15 boot staged)
[ ${#C15[@]} -gt 0 ] || die "no boot/staged cache in the verify report of $ROOT15 (see $LOGS/verify-15.json)"
verify_argv "$ROOT15" "$vrc"
read -r v1 v2 v3 <<<"$(time_cmd verify-15 "${VARGV[@]}")"
timed "kcheck verify --root ${ROOT15#"$BENCH"/} (10.15, verdict $verdict15)" "$v1" "$v2" "$v3"
ksum=0
csum=0
psum=0
i=0
for c in "${C15[@]}"; do
    i=$((i + 1))
    read -r a1 a2 a3 <<<"$(time_cmd "verify15-cache-$i" "$KCHECK" kexts --json "$c")"
    timed "kcheck kexts --json ${c#"$BENCH"/}" "$a1" "$a2" "$a3"
    ksum=$(add "$ksum" "$a2")
    read -r s sz <<<"$(stream "$c")"
    read -r b1 b2 b3 <<<"$(ref_call "$s" "$sz")"
    timed "lzfse_decode_buffer on its stream (the call alone)" "$b1" "$b2" "$b3"
    csum=$(add "$csum" "$b2")
    read -r b1 b2 b3 <<<"$(time_cmd "verify15-ref-$i" "$REF" "$s" "$sz" 1)"
    timed "ref_decode on its stream (whole process)" "$b1" "$b2" "$b3"
    psum=$(add "$psum" "$b2")
done
r=$(div "$v2" "$ksum")
target "(c) \`kcheck verify\` on the $N-kext 10.15 root ≤ 0.75× decoding its $i caches one after the other with \`kcheck kexts --json\` (sum of medians)" \
    "$(f3 "$v2") s vs $(f3 "$ksum") s" "${r}×" "≤ 0.75×" "$(met_le "$r" 0.75)"
r=$(div "$v2" "$csum")
target "(c) the same against the C decoder's decode calls (sum of medians)" \
    "$(f3 "$v2") s vs $(f3 "$csum") s" "${r}×" "≤ 0.75×" "$(met_le "$r" 0.75)"
target "(c′) the same against the C decoder as whole processes (sum of medians)" \
    "$(f3 "$v2") s vs $(f3 "$psum") s" "$(div "$v2" "$psum")×" "-" "-"
NOTES+=("10.15 root: $ROOT15, verdict $verdict15 (exit status $vrc); caches: ${C15[*]}.")
[ "$verdict15" = healthy ] || NOTES+=("**The 10.15 root is not healthy** ($verdict15): verify's time includes reporting its findings.")

# ---------------------------------------------------------------- (c) verify, 11+ root
if [ $DO11 = 1 ]; then
    if [ -n "$ROOT11_DIR" ]; then
        ROOT11=$ROOT11_DIR
    else
        gen_root --scale-root-11 "$N" "$BENCH/root11-$N"
        ROOT11=$BENCH/root11-$N/root
    fi
    note "(c) kcheck verify --root $ROOT11 (11+) vs kcheck kexts --json on its boot collection"
    vrc=$(verify_check "$ROOT11" 11)
    verdict11=$(json_field "$LOGS/verify-11.json" verdict)
    mapfile -t BOOT11 < <(verify_caches 11 boot)
    mapfile -t SYS11 < <(verify_caches 11 system)
    mapfile -t AUX11 < <(verify_caches 11 auxiliary)
    [ ${#BOOT11[@]} = 1 ] || die "no boot collection in the verify report of $ROOT11 (see $LOGS/verify-11.json)"
    kcbytes=$(fsize "${BOOT11[0]}")
    [ ${#SYS11[@]} = 0 ] || kcbytes=$((kcbytes + $(fsize "${SYS11[0]}")))
    verify_argv "$ROOT11" "$vrc"
    bq=$(printf '%q' "${BOOT11[0]}")
    read -r v1 v2 v3 b1 b2 b3 _ r2 _ <<<"$(time_pair "verify-11-vs-boot" "$KCHECK kexts --json $bq" "${VARGV[@]}")"
    timed "kcheck verify --root ${ROOT11#"$BENCH"/} (11+, verdict $verdict11)" "$v1" "$v2" "$v3"
    timed "kcheck kexts --json ${BOOT11[0]#"$BENCH"/}" "$b1" "$b2" "$b3"
    rr=$(awk -v r="$r2" 'BEGIN { printf "%.2f", r }')
    target "(c) \`kcheck verify\` on the $N-kext 11+ root (boot + system collections $(mb "$kcbytes") MB) within 1.5× of \`kcheck kexts --json\` on its boot collection (paired runs)" \
        "$(f3 "$v2") s vs $(f3 "$b2") s" "${rr}×" "≤ 1.50×" "$(met_le "$rr" 1.5)"
    # Context for (c): what listing the other collections costs alone. A
    # verify must read all three; their listings one after the other are
    # the floor before any kext on disk is read.
    listsum=$b2
    for kc in "${SYS11[@]}" "${AUX11[@]}"; do
        read -r l1 l2 l3 <<<"$(time_cmd "kexts-$(basename "$kc")" "$KCHECK" kexts --json "$kc")"
        timed "kcheck kexts --json ${kc#"$BENCH"/}" "$l1" "$l2" "$l3"
        listsum=$(add "$listsum" "$l2")
    done
    NOTES+=("(c) context: listing the boot, system and auxiliary collections one after the other takes $(f3 "$listsum") s (medians summed), $(div "$listsum" "$b2")× the boot listing alone; verify's $(f3 "$v2") s is $(div "$v2" "$listsum")× that sum.")
    sizes="boot $(mb "$(fsize "${BOOT11[0]}")") MB"
    [ ${#SYS11[@]} = 0 ] || sizes="$sizes, system $(mb "$(fsize "${SYS11[0]}")") MB"
    [ ${#AUX11[@]} = 0 ] || sizes="$sizes, auxiliary $(mb "$(fsize "${AUX11[0]}")") MB"
    NOTES+=("11+ root: $ROOT11, verdict $verdict11 (exit status $vrc); raw MH_FILESET collections: $sizes.")
    [ "$verdict11" = healthy ] || NOTES+=("**The 11+ root is not healthy** ($verdict11): see $LOGS/verify-11.json.")
    le 200000000 "$kcbytes" || NOTES+=("The 11+ root's boot + system collections are $(mb "$kcbytes") MB, under the 200 MB of the target (a full run, N = 600, makes 209 MB).")
fi

# ---------------------------------------------------------------- peak memory
note "measuring peak memory (/usr/bin/time -v)"
for ext in fat-lzvn comp-lzss im4p-lzfse; do
    mem "kcheck kexts --json plk-$N.$ext" - "$KCHECK" kexts --json "$BENCH/plk-$N.$ext"
done
mem "kcheck kexts --json kc-$N.kc" - "$KCHECK" kexts --json "$KC"
mem "kcheck info plk-$N.raw" - "$KCHECK" info "$RAW"
mem "kcheck verify --root ${ROOT15#"$BENCH"/}" - "$KCHECK" verify --root "$ROOT15"
[ $DO11 = 0 ] || mem "kcheck verify --root ${ROOT11#"$BENCH"/}" - "$KCHECK" verify --root "$ROOT11"

# ---------------------------------------------------------------- (d) scaling
if [ $SCALING = 1 ]; then
    SCALES=(100 300 600 1200)
    [ $QUICK = 0 ] || SCALES=(100 300 600)
    # sh -c "$REPEAT" KCHECK FILE REP: `kcheck kexts --json FILE`, REP times.
    REPEAT='i=0; while [ "$i" -lt "$2" ]; do "$0" kexts --json "$1" >/dev/null || exit 1; i=$((i + 1)); done'
    REP_RAW=10
    REP_LZ=3
    RAWUS=()
    LZUS=()
    NKS=()
    RAWT=()
    LZT=()
    for s in "${SCALES[@]}"; do
        gen "$s"
        note "(d) scaling: N=$s"
        info_json "$BENCH/plk-$s.raw" "$LOGS/info-$s.json"
        nk=$(json_field "$LOGS/info-$s.json" kext_count)
        # Each timed command lists the cache REP times in a row (one sh
        # loop), and the median is divided by REP: the timer reads whole
        # milliseconds, too coarse for the few ms one kext list differs by
        # between sizes.
        read -r _ tr _ <<<"$(time_cmd "scale-$s-raw" sh -c "$REPEAT" "$KCHECK" "$BENCH/plk-$s.raw" "$REP_RAW")"
        read -r _ tl _ <<<"$(time_cmd "scale-$s-fat-lzvn" sh -c "$REPEAT" "$KCHECK" "$BENCH/plk-$s.fat-lzvn" "$REP_LZ")"
        tr=$(awk -v t="$tr" -v r="$REP_RAW" 'BEGIN { printf "%.6f", t / r }')
        tl=$(awk -v t="$tl" -v r="$REP_LZ" 'BEGIN { printf "%.6f", t / r }')
        ur=$(awk -v t="$tr" -v n="$nk" 'BEGIN { printf "%.1f", t / n * 1e6 }')
        ul=$(awk -v t="$tl" -v n="$nk" 'BEGIN { printf "%.1f", t / n * 1e6 }')
        RAWUS+=("$ur")
        LZUS+=("$ul")
        NKS+=("$nk")
        RAWT+=("$tr")
        LZT+=("$tl")
        SCALEROWS+=("$s|$nk|$(mb "$(fsize "$BENCH/plk-$s.raw")")|$(f3 "$tr")|$ur|$(f3 "$tl")|$ul")
    done
    # Flat = each added kext costs the same: the time added per kext
    # between consecutive sizes (the slope), so the fixed cost of starting
    # a process is not counted as per-kext cost. The plain µs per kext
    # (time / kexts) is in the scaling table.
    slopes() {
        python3 -c 'import sys
n = [float(x) for x in sys.argv[1].split()]
t = [float(x) for x in sys.argv[2].split()]
print(" ".join("%.1f" % ((t[i] - t[i-1]) / (n[i] - n[i-1]) * 1e6) for i in range(1, len(n))))' "$1" "$2"
    }
    spread() { python3 -c 'import sys; v = [float(x) for x in sys.argv[1:]]; print("%.2f" % (max(v) / min(v)))' "$@"; }
    read -r -a RAWSL <<<"$(slopes "${NKS[*]}" "${RAWT[*]}")"
    read -r -a LZSL <<<"$(slopes "${NKS[*]}" "${LZT[*]}")"
    sr=$(spread "${RAWSL[@]}")
    sl=$(spread "${LZSL[@]}")
    target "(d) time per added kext flat from ${SCALES[0]} to ${SCALES[-1]} kexts, raw (max / min of the µs added per kext between consecutive sizes)" \
        "$(IFS=/; echo "${RAWSL[*]}") µs" "${sr}×" "≤ 1.25×" "$(met_le "$sr" 1.25)"
    target "(d) the same, FAT > comp/LZVN" \
        "$(IFS=/; echo "${LZSL[*]}") µs" "${sl}×" "≤ 1.25×" "$(met_le "$sl" 1.25)"
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null || true)" ] || DIRTY=" (+ uncommitted changes)"
HEADER="kcheck $("$KCHECK" --version | awk '{print $2}') at $COMMIT$DIRTY; $(nproc) cores${CPU:+, $CPU}; load average $LOAD0 at start, $LOAD1 at end; timer: $TIMER_DESC; $RUNS runs after 1 warm-up, medians quoted"
[ "$RUNS" -ge 5 ] || HEADER="$HEADER. **Fewer than 5 runs: a smoke test, not a measurement of the targets**"

text_table() { # "col|col|..." rows, the first one the header
    python3 -c '
import sys
rows = [r.split("|") for r in sys.argv[1:]]
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for j, r in enumerate(rows):
    print("  " + "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)))
    if j == 0:
        print("  " + "  ".join("-" * x for x in w))
' "$@"
}
md_table() {
    python3 -c '
import sys
rows = [r.split("|") for r in sys.argv[1:]]
print("| " + " | ".join(rows[0]) + " |")
print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(rows[0]))) + "|")
for r in rows[1:]:
    print("| " + " | ".join(r) + " |")
' "$@"
}

H_TARGETS="target|measured (medians)|ratio|target|met?"
H_TIMES="command|min / median / max s"
H_MEM="command|peak RSS MiB|limit MiB|met?"
H_SCALE="N|kexts|raw MB|raw s (mean of 10 in a row)|µs/kext|FAT > comp/LZVN s (mean of 3 in a row)|µs/kext"
INPUTS="Inputs: \`plk-$N.raw\` $RAWSIZE bytes ($NKEXTS kexts, __PRELINK_INFO $PRELINK_INFO bytes), \`kc-$N.kc\` $KCSIZE bytes (\`gen_fixtures --scale $N\`); 10.15 root \`gen_fixtures --scale-root $N\`$([ $DO11 = 0 ] || echo "; 11+ root \`gen_fixtures --scale-root-11 $N\`")."

{
    echo "kcheck comparison benchmark, $N kexts"
    echo "$HEADER"
    echo "$INPUTS"
    echo
    echo "Targets"
    text_table "$H_TARGETS" "${TARGETS[@]}"
    echo
    echo "Timings"
    text_table "$H_TIMES" "${TIMES[@]}"
    echo
    echo "Peak memory (GNU time -v, one run each)"
    text_table "$H_MEM" "${MEMROWS[@]}"
    if [ ${#SCALEROWS[@]} -gt 0 ]; then
        echo
        echo "Scaling (kcheck kexts --json, medians)"
        text_table "$H_SCALE" "${SCALEROWS[@]}"
    fi
    echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
} | tee "$LOGS/report.txt"

{
    echo "## Comparison benchmark ($N kexts)"
    echo
    echo "Generated by \`bench/compare.sh${ARGS_SEEN:+ $ARGS_SEEN}\` on $(date -u +%Y-%m-%d). $HEADER."
    echo "$INPUTS"
    echo
    echo "### Targets"
    echo
    md_table "$H_TARGETS" "${TARGETS[@]}"
    echo
    echo "Ratios: kcheck / other (lower is better), except the LIEF rows: LIEF / kcheck (the speed-up)."
    echo
    echo "### Timings"
    echo
    md_table "$H_TIMES" "${TIMES[@]}"
    echo
    echo "### Peak memory"
    echo
    md_table "$H_MEM" "${MEMROWS[@]}"
    if [ ${#SCALEROWS[@]} -gt 0 ]; then
        echo
        echo "### Scaling"
        echo
        md_table "$H_SCALE" "${SCALEROWS[@]}"
    fi
    echo
    for n in "${NOTES[@]}"; do echo "- $n"; done
} >"$OUT"
note "report written to $OUT (text copy in $LOGS/report.txt)"

if [ $MISSED -gt 0 ]; then
    note "$MISSED target(s) missed"
    [ $STRICT = 0 ] || exit 1
fi
exit 0
