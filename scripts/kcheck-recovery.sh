#!/bin/sh
# kcheck-recovery.sh — check every macOS system on the mounted volumes from
# Recovery's Terminal, and say what to type to fix each one.
#
#   kcheck-recovery.sh [--sip enabled|disabled|unknown] [VOLUMES_DIR]
#
# VOLUMES_DIR defaults to /Volumes. A macOS system volume is a folder there
# holding System/Library/CoreServices/SystemVersion.plist; its data volume
# is the folder "<name> - Data" next to it (macOS 10.15 and later), else the
# system volume itself (10.14 and earlier: one volume). For each system the
# script runs
#     kcheck verify --root VOL [--data-root "VOL - Data"] [--sip …] --format jsonl
# and prints the verdict, the warnings and errors, and for a broken or
# attention verdict the commands kcheck's remedies name (the text between
# backticks, each once). It runs nothing but kcheck, and kcheck only reads:
# the commands are printed for you to run, never run.
#
# --sip passes what `csrutil status` says in Recovery on to kcheck.
# kcheck is found in this order: $KCHECK, a `kcheck` next to this script,
# `kcheck` on PATH.
#
# Exit status: the worst verdict (0 healthy, 1 attention, 2 broken);
# 3 if kcheck is missing or failed on a volume; 64 usage error; 66 no
# macOS system found.
#
# POSIX sh (macOS /bin/sh, bash 3.2, zsh in sh mode, dash); needs only awk, sed,
# mktemp, dirname and cat.

PROG='kcheck-recovery'

say() { printf '%s\n' "$*"; }
die() {
    printf '%s: %s\n' "$PROG" "$2" >&2
    exit "$1"
}
usage() { sed -n '2,27s/^# \{0,1\}//p' "$0"; }

# --- arguments ----------------------------------------------------------
sip=
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

# --- find kcheck --------------------------------------------------------
if [ -n "${KCHECK:-}" ]; then
    kcheck=$KCHECK
    if [ ! -f "$kcheck" ] || [ ! -x "$kcheck" ]; then
        die 3 "KCHECK=$kcheck is not an executable file (copied from a USB disk? run: chmod +x \"$kcheck\")"
    fi
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

# --- find the systems ---------------------------------------------------
SV=System/Library/CoreServices/SystemVersion.plist
n=0
skipped=
for vol in "$voldir"/*; do
    [ -d "$vol" ] || continue
    name=${vol##*/}
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
    if [ "$status" -le 2 ] && [ "$status" -gt "$worst" ]; then worst=$status; fi
    say "   full report:   kcheck verify --root \"$vol\"${sip:+ --sip $sip}"
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
