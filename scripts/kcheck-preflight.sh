#!/bin/sh
# kcheck-preflight.sh — run `kcheck verify` before a scheduled reboot and
# answer in one line whether the reboot may go ahead.
#
#   kcheck-preflight.sh [kcheck verify options…]      e.g. --root DIR, --sip enabled
#
# Prints exactly one line on standard output and exits with:
#   0  kcheck-preflight: ok (healthy)
#      kcheck-preflight: ok (attention): N warnings, first: CODE SUBJECT
#   2  kcheck-preflight: broken: CODE SUBJECT: MESSAGE     (the first error finding)
#   3  kcheck-preflight: error: …                         (kcheck missing or failed)
#
# kcheck is found in this order: $KCHECK (a path, or a command name on PATH),
# a `kcheck` next to this script, `kcheck` on PATH. Options are passed to
# `kcheck verify` unchanged; not --format or --json (the script asks for jsonl).
#
# POSIX sh (runs under macOS /bin/sh, bash 3.2, zsh in sh mode, dash); needs
# only awk, sed, mktemp, dirname and cat. kcheck only reads, and so does this script.

PROG='kcheck-preflight'

fail() {
    printf '%s: error: %s\n' "$PROG" "$1"
    exit 3
}

case "${1:-}" in
    -h | --help)
        sed -n '2,18s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
esac

# --- find kcheck --------------------------------------------------------
if [ -n "${KCHECK:-}" ]; then
    case $KCHECK in
        */*)
            kcheck=$KCHECK
            if [ ! -f "$kcheck" ] || [ ! -x "$kcheck" ]; then
                fail "KCHECK=$kcheck is not an executable file"
            fi
            ;;
        *)
            # A command name: look it up on PATH (a shell function or
            # builtin of that name does not count).
            kcheck=$(command -v -- "$KCHECK" 2>/dev/null)
            case $kcheck in
                /*) ;;
                *) fail "KCHECK=$KCHECK is not a command on PATH" ;;
            esac
            ;;
    esac
else
    here=$(dirname -- "$0")
    if [ -f "$here/kcheck" ] && [ -x "$here/kcheck" ]; then
        kcheck=$here/kcheck
    elif kcheck=$(command -v kcheck 2>/dev/null) && [ -n "$kcheck" ]; then
        :
    else
        fail "kcheck not found (set KCHECK, put kcheck next to this script, or on PATH)"
    fi
fi

# --- run it -------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kcheck-preflight.XXXXXX") || fail "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 3' HUP INT TERM

"$kcheck" verify --format jsonl "$@" >"$tmp/out" 2>"$tmp/err"
status=$?

case $status in
    0 | 1 | 2) ;;
    *)
        msg=$(awk 'NF { print; exit }' "$tmp/err")
        [ -n "$msg" ] || msg="no message"
        fail "kcheck failed (exit $status): $msg"
        ;;
esac

# --- read the findings --------------------------------------------------
# One finding a line; print "SEVERITY<TAB>CODE<TAB>SUBJECT<TAB>MESSAGE" for
# each. A tiny reader of top-level JSON string fields: it walks the object
# so that keys inside "evidence" can never be mistaken for ours.
summary=$(awk '
function jstr(s, i,   rest) {             # s at i is a quote; raw contents
    rest = substr(s, i + 1)
    if (match(rest, /^([^"\\]|\\.)*"/)) { JEND = i + RLENGTH + 1; return substr(rest, 1, RLENGTH - 1) }
    JEND = length(s) + 1; return rest
}
function jskip(s, i,   c, d, rest) {      # index just after the value at i
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
function clean(s) { gsub(/\t/, " ", s); return s }
/^[ \t]*\{/ {
    if (jget($0, "record") == "run") next   # the run record, not a finding
    printf "%s\t%s\t%s\t%s\n", jget($0, "severity"), jget($0, "code"), clean(jget($0, "subject")), clean(jget($0, "message"))
}' "$tmp/out")

tab=$(printf '\t')
case $status in
    0)
        printf '%s: ok (healthy)\n' "$PROG"
        exit 0
        ;;
    1)
        printf '%s\n' "$summary" | awk -F "$tab" -v prog="$PROG" '
            $1 == "warning" { n++; if (!first) first = $2 " " $3 }
            END {
                line = prog ": ok (attention)"
                if (n) line = line ": " n " warning" (n == 1 ? "" : "s") ", first: " first
                print line
            }'
        exit 0
        ;;
    2)
        printf '%s\n' "$summary" | awk -F "$tab" -v prog="$PROG" '
            $1 == "error" && !done { print prog ": broken: " $2 " " $3 ": " $4; done = 1 }
            END { if (!done) print prog ": broken" }'
        exit 2
        ;;
esac
