#!/bin/sh
# kcheck-recovery.sh — check every macOS system on the mounted volumes from
# Recovery's Terminal, and say what to type to fix each one.
#
#   kcheck-recovery.sh [--sip enabled|disabled|unknown] [VOLUMES_DIR]
#   kcheck-recovery.sh [--sip …] [--preboot DIR] [VOLUMES_DIR]      (Apple silicon)
#
# VOLUMES_DIR defaults to /Volumes. A macOS system volume is a folder there
# holding System/Library/CoreServices/SystemVersion.plist; its data volume
# is the folder "<name> - Data" next to it (macOS 10.15 and later), else the
# system volume itself (10.14 and earlier: one volume). For each system the
# script runs
#     kcheck verify --root VOL [--data-root "VOL - Data"] [--preboot PB] [--sip …] --format jsonl
# and prints the verdict, the warnings and errors, the checks kcheck could
# not run, and for a broken or attention verdict the commands kcheck's
# remedies name (the text between backticks, each once). It runs nothing but
# kcheck, and kcheck only reads: the commands are printed for you to run,
# never run.
#
# Apple silicon: a system volume with System/Library/Kernels/kernel.release.*
# and no System/Library/KernelCollections/BootKernelExtensions.kc keeps its
# boot kernel collection in the Preboot volume. The script passes --preboot
# for it: the directory given with --preboot DIR (or KCHECK_PREBOOT=DIR),
# else a mounted volume named "Preboot" (or "Preboot 1", …) in VOLUMES_DIR,
# the one holding a volume group with the system's build when there are
# several. Mount it first: `diskutil list`, then `diskutil mount <Preboot
# volume>`; it appears at /Volumes/Preboot.
#
# --sip passes what `csrutil status` says in Recovery on to kcheck.
# kcheck is found in this order: $KCHECK (a path, or a command name on PATH), a `kcheck` next to this script,
# `kcheck` on PATH.
#
# Exit status: the worst verdict (0 healthy, 1 attention, 2 broken);
# 3 if kcheck is missing or failed on a volume; 64 usage error; 66 no
# macOS system found, or a --preboot that is not a directory.
#
# POSIX sh (macOS /bin/sh, bash 3.2, zsh in sh mode, dash); needs only awk, sed,
# mktemp, dirname and cat.

PROG='kcheck-recovery'

say() { printf '%s\n' "$*"; }
die() {
    printf '%s: %s\n' "$PROG" "$2" >&2
    exit "$1"
}
usage() { sed -n '2,38s/^# \{0,1\}//p' "$0"; }

# --- arguments ----------------------------------------------------------
sip=
preboot=${KCHECK_PREBOOT:-}
voldir=
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --sip)
            [ $# -ge 2 ] || die 64 "--sip needs a value: enabled, disabled or unknown"
            sip=$2
            shift 2
            ;;
        --sip=*)
            sip=${1#--sip=}
            shift
            ;;
        --preboot)
            [ $# -ge 2 ] || die 64 "--preboot needs a directory: the mounted Preboot volume, e.g. /Volumes/Preboot"
            preboot=$2
            shift 2
            ;;
        --preboot=*)
            preboot=${1#--preboot=}
            shift
            ;;
        --)
            shift
            break
            ;;
        -*) die 64 "unknown option $1 (see --help)" ;;
        *)
            [ -z "$voldir" ] || die 64 "only one volumes directory, please (got \"$voldir\" and \"$1\")"
            voldir=$1
            shift
            ;;
    esac
done
if [ $# -gt 0 ]; then
    if [ -n "$voldir" ] || [ $# -ne 1 ]; then
        die 64 "only one volumes directory, please"
    fi
    voldir=$1
fi
case $sip in
    '' | enabled | disabled | unknown) ;;
    *) die 64 "--sip must be enabled, disabled or unknown, not \"$sip\"" ;;
esac
voldir=${voldir:-/Volumes}
[ -d "$voldir" ] || die 66 "$voldir is not a directory"
if [ -n "$preboot" ] && [ ! -d "$preboot" ]; then
    die 66 "--preboot $preboot is not a directory (mount the Preboot volume: diskutil list, then diskutil mount <Preboot volume>)"
fi

# --- find kcheck --------------------------------------------------------
if [ -n "${KCHECK:-}" ]; then
    case $KCHECK in
        */*)
            kcheck=$KCHECK
            if [ ! -f "$kcheck" ] || [ ! -x "$kcheck" ]; then
                die 3 "KCHECK=$kcheck is not an executable file (copied from a USB disk? run: chmod +x \"$kcheck\")"
            fi
            ;;
        *)
            # A command name: look it up on PATH.
            kcheck=$(command -v -- "$KCHECK" 2>/dev/null)
            case $kcheck in
                /*) ;;
                *) die 3 "KCHECK=$KCHECK is not a command on PATH" ;;
            esac
            ;;
    esac
else
    here=$(dirname -- "$0")
    if [ -f "$here/kcheck" ] && [ -x "$here/kcheck" ]; then
        kcheck=$here/kcheck
    elif [ -f "$here/kcheck" ]; then
        die 3 "$here/kcheck is not executable; run: chmod +x \"$here/kcheck\""
    elif kcheck=$(command -v kcheck 2>/dev/null) && [ -n "$kcheck" ]; then
        :
    else
        die 3 "kcheck not found (set KCHECK, put kcheck next to this script, or on PATH)"
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kcheck-recovery.XXXXXX") || die 3 "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 3' HUP INT TERM

# --- the JSONL reader ---------------------------------------------------
# awk functions that read top-level string fields of one JSON object a line
# (the findings of `kcheck verify --format jsonl`), walking the object so
# that keys inside "evidence" are never mistaken for top-level ones.
JSON_AWK='
function jstr(s, i,   rest) {
    rest = substr(s, i + 1)
    if (match(rest, /^([^"\\]|\\.)*"/)) { JEND = i + RLENGTH + 1; return substr(rest, 1, RLENGTH - 1) }
    JEND = length(s) + 1; return rest
}
function jskip(s, i,   c, d, rest) {
    c = substr(s, i, 1)
    if (c == "\"") { jstr(s, i); return JEND }
    if (c == "{" || c == "[") {
        d = 0
        while (i <= length(s)) {
            c = substr(s, i, 1)
            if (c == "\"") { jstr(s, i); i = JEND; continue }
            if (c == "{" || c == "[") d++
            else if (c == "}" || c == "]") { d--; if (d == 0) return i + 1 }
            rest = substr(s, i + 1)
            if (match(rest, /["{}[\]]/)) i += RSTART; else return length(s) + 1
        }
        return i
    }
    while (i <= length(s) && substr(s, i, 1) !~ /[,}]/) i++
    return i
}
function unesc(s,   out, c) {
    out = ""
    while (match(s, /\\./)) {
        c = substr(s, RSTART + 1, 1)
        out = out substr(s, 1, RSTART - 1)
        if (c == "n" || c == "t" || c == "r") out = out " "
        else if (c == "u") out = out "\\u"
        else if (c != "b" && c != "f") out = out c
        s = substr(s, RSTART + 2)
    }
    return out s
}
function jget(s, key,   i, k) {
    i = index(s, "{") + 1
    while (i > 1 && i <= length(s)) {
        if (substr(s, i, 1) != "\"") { i++; continue }
        k = jstr(s, i); i = JEND
        while (substr(s, i, 1) ~ /[ :]/) i++
        if (k == key) return substr(s, i, 1) == "\"" ? unesc(jstr(s, i)) : ""
        i = jskip(s, i)
    }
    return ""
}
'

# Print one volume's findings and remedy commands from its JSONL output.
# $1 = the JSONL file, $2 = 1 to print remedies.
report_findings() {
    awk -v remedies="$2" "$JSON_AWK"'
/^[ \t]*\{/ {
    if (jget($0, "record") == "run") next   # the run record, not a finding
    sev = jget($0, "severity"); code = jget($0, "code")
    subj = jget($0, "subject"); msg = jget($0, "message"); rem = jget($0, "remedy")
    if (sev == "info") { infos++; next }
    printf "   %-8s %s  %s\n", sev, code, subj
    printf "            %s\n", msg
    found = 0
    r = rem
    while (match(r, /`[^`]*`/)) {
        cmd = substr(r, RSTART + 1, RLENGTH - 2)
        r = substr(r, RSTART + RLENGTH)
        found = 1
        if (!(cmd in seen)) { seen[cmd] = 1; cmds[++ncmd] = cmd }
    }
    if (!found && rem != "" && !(rem in seen)) { seen[rem] = 1; notes[++nnote] = rem }
}
END {
    if (infos) printf "   (%d info finding%s not shown)\n", infos, (infos == 1 ? "" : "s")
    if (remedies != 1) exit
    if (ncmd) {
        print "   Commands from the remedies (kcheck runs none of them; Recovery'"'"'s Terminal"
        print "   is already root, so sudo is not needed there):"
        for (i = 1; i <= ncmd; i++) print "     " cmds[i]
    }
    for (i = 1; i <= nnote; i++) print "   Also: " notes[i]
}' "$1"
}

# "ProductVersion (ProductBuildVersion)" of an XML SystemVersion.plist.
os_version() {
    awk '
    { s = s $0 " " }
    function val(key,   i, rest) {
        i = index(s, "<key>" key "</key>")
        if (!i) return ""
        rest = substr(s, i + length(key) + 11)
        if (!match(rest, /^[ \t]*<string>[^<]*<\/string>/)) return ""
        rest = substr(rest, 1, RLENGTH)
        sub(/^[ \t]*<string>/, "", rest); sub(/<\/string>$/, "", rest)
        return rest
    }
    END {
        v = val("ProductVersion"); b = val("ProductBuildVersion")
        if (v == "") { print "unknown"; exit }
        printf "%s%s\n", v, (b == "" ? "" : " (" b ")")
    }' "$1" 2>/dev/null
}

# The checks kcheck could not run, from the run record (the last line of
# `verify --format jsonl`: {"record":"run",…,"not_checked":[{"check","reason"}…]}).
# $1 = the JSONL file.
report_not_checked() {
    awk "$JSON_AWK"'
/^[ \t]*\{/ {
    if (jget($0, "record") != "run") next
    i = index($0, "\"not_checked\":")
    if (!i) next
    s = substr($0, i + 14)
    while ((j = index(s, "\"check\":")) > 0) {
        s = substr(s, j + 8); sub(/^[ \t]*/, "", s)
        if (substr(s, 1, 1) != "\"") break
        check = unesc(jstr(s, 1)); s = substr(s, JEND)
        reason = ""
        k = index(s, "\"reason\":")
        if (k) {
            s = substr(s, k + 9); sub(/^[ \t]*/, "", s)
            if (substr(s, 1, 1) == "\"") { reason = unesc(jstr(s, 1)); s = substr(s, JEND) }
        }
        printf "   not checked    %s: %s\n", check, reason
    }
}' "$1"
}

# The ProductBuildVersion of an XML SystemVersion.plist ($1), or nothing.
os_build() {
    awk '
    { s = s $0 " " }
    END {
        i = index(s, "<key>ProductBuildVersion</key>")
        if (!i) exit
        rest = substr(s, i + 30)
        if (!match(rest, /^[ \t]*<string>[^<]*<\/string>/)) exit
        rest = substr(rest, 1, RLENGTH)
        sub(/^[ \t]*<string>/, "", rest); sub(/<\/string>$/, "", rest)
        print rest
    }' "$1" 2>/dev/null
}

# Whether the system volume $1 is an Apple-silicon one: it has
# System/Library/Kernels/kernel.release.<soc> and no Intel boot collection
# (the rule kcheck itself uses).
apple_silicon() {
    [ -e "$1/System/Library/KernelCollections/BootKernelExtensions.kc" ] && return 1
    for k in "$1"/System/Library/Kernels/kernel.release.?*; do
        [ -f "$k" ] && return 0
    done
    return 1
}

# The Preboot volume for a system of build $1: of the candidates in
# $tmp/preboots (one a line), the first holding a volume group
# (<UUID>/System/Library/CoreServices/SystemVersion.plist) with that build;
# else the only candidate; else nothing.
preboot_for() {
    [ -s "$tmp/preboots" ] || return 0
    if [ -n "$1" ]; then
        while IFS= read -r pb; do
            for sv in "$pb"/*/"$SV"; do
                [ -f "$sv" ] || continue
                if [ "$(os_build "$sv")" = "$1" ]; then
                    printf '%s\n' "$pb"
                    return 0
                fi
            done
        done <"$tmp/preboots"
    fi
    awk 'NR == 1 { first = $0 } END { if (NR == 1) print first }' "$tmp/preboots"
}

# --- find the systems ---------------------------------------------------
SV=System/Library/CoreServices/SystemVersion.plist
n=0
skipped=
: >"$tmp/preboots"
if [ -n "$preboot" ]; then
    printf '%s\n' "$preboot" >"$tmp/preboots"
fi
for vol in "$voldir"/*; do
    [ -d "$vol" ] || continue
    name=${vol##*/}
    case $name in
        Preboot | "Preboot "[0-9]*)
            # The Preboot volume of an APFS container (Apple silicon keeps
            # the boot kernel collection there): not a system, a candidate
            # for --preboot unless one was given.
            [ -n "$preboot" ] || printf '%s\n' "$vol" >>"$tmp/preboots"
            continue
            ;;
    esac
    if [ -f "$vol/$SV" ]; then
        case $name in
            *" - Data")
                # A data volume is never a system; skip it if its system is here.
                [ -f "${vol% - Data}/$SV" ] && continue
                ;;
        esac
        n=$((n + 1))
        printf '%s\n' "$vol" >>"$tmp/systems"
    else
        case $name in
            *" - Data") [ -f "${vol% - Data}/$SV" ] && continue ;;
        esac
        skipped="$skipped${skipped:+, }$name"
    fi
done

if [ "$n" -eq 0 ]; then
    die 66 "no macOS system volume in $voldir (looked for */$SV)${skipped:+; not macOS: $skipped}"
fi
if [ "$n" -eq 1 ]; then what=system; else what=systems; fi
say "$PROG: $n macOS $what in $voldir${skipped:+ (not macOS: $skipped)}"
[ -n "$sip" ] && say "$PROG: SIP given as $sip"
while IFS= read -r pb; do
    if [ -n "$preboot" ]; then
        say "$PROG: Preboot volume given as $pb"
    else
        say "$PROG: Preboot volume $pb"
    fi
done <"$tmp/preboots"

# --- check each ---------------------------------------------------------
worst=0
failed=0
i=0
while IFS= read -r vol; do
    i=$((i + 1))
    name=${vol##*/}
    version=$(os_version "$vol/$SV")
    say ""
    say "== $name: macOS $version"
    say "   system volume  $vol"
    set -- verify --root "$vol"
    if [ -d "$vol - Data" ]; then
        say "   data volume    $vol - Data"
        set -- "$@" --data-root "$vol - Data"
    else
        say "   data volume    (none: the system volume holds /Library)"
        case $version in
            10.15* | 1[1-9]* | [2-9][0-9]*)
                say "   note: macOS $version keeps /Library on a separate data volume, and there is no"
                say "   \"$name - Data\" here. If FileVault is on, unlock and mount it (Disk Utility >"
                say "   select the volume > Mount) and run this script again; until then the staged"
                say "   cache and the third-party kexts cannot be checked."
                ;;
        esac
    fi
    pb=
    if apple_silicon "$vol"; then
        say "   platform       Apple silicon: the boot kernel collection is in the Preboot volume"
        pb=$(preboot_for "$(os_build "$vol/$SV")")
        if [ -n "$pb" ]; then
            say "   preboot        $pb"
            set -- "$@" --preboot "$pb"
        else
            say "   preboot        (none found for this system)"
            say "   note: mount the Preboot volume of this system's container and run this script"
            say "   again: \`diskutil list\` shows it (an APFS volume named Preboot), \`diskutil mount"
            say "   <that disk>\` mounts it at /Volumes/Preboot; or give it with --preboot DIR. Until"
            say "   then kcheck cannot read the boot kernel collection and lists those checks as"
            say "   not checked."
        fi
    fi
    [ -n "$sip" ] && set -- "$@" --sip "$sip"
    set -- "$@" --format jsonl

    "$kcheck" "$@" </dev/null >"$tmp/out.$i" 2>"$tmp/err.$i"
    status=$?
    case $status in
        0) verdict=healthy ;;
        1) verdict=attention ;;
        2) verdict=broken ;;
        *) verdict=failed ;;
    esac
    printf '%s\t%s\n' "$name" "$verdict" >>"$tmp/summary"
    case $verdict in
        healthy)
            say "   verdict        healthy: the next boot runs the kexts that are installed"
            ;;
        attention)
            say "   verdict        attention: warnings, see below"
            report_findings "$tmp/out.$i" 1
            ;;
        broken)
            say "   verdict        BROKEN: the next boot will not run the kexts you think are installed"
            report_findings "$tmp/out.$i" 1
            ;;
        failed)
            failed=1
            err=$(awk 'NF { print; exit }' "$tmp/err.$i")
            say "   verdict        not checked: kcheck failed (exit $status): ${err:-no message}"
            ;;
    esac
    [ "$verdict" = failed ] || report_not_checked "$tmp/out.$i"
    if [ "$status" -le 2 ] && [ "$status" -gt "$worst" ]; then worst=$status; fi
    say "   full report:   kcheck verify --root \"$vol\"${pb:+ --preboot \"$pb\"}${sip:+ --sip $sip}"
done <"$tmp/systems"

# --- summary ------------------------------------------------------------
say ""
say "== Summary"
awk -F '	' '{ printf "   %-30s %s\n", $1, $2 }' "$tmp/summary"
if [ "$failed" -ne 0 ]; then
    say "$PROG: kcheck failed on at least one volume (exit 3)"
    exit 3
fi
case $worst in
    0) say "$PROG: all healthy" ;;
    1) say "$PROG: worst verdict attention (exit 1)" ;;
    2) say "$PROG: worst verdict broken (exit 2)" ;;
esac
exit "$worst"
