#!/bin/sh
# munki-kcheck-preflight.sh — keep Munki from installing a kext update while
# `kcheck verify` says the Mac's kernel cache is broken (a kext installed on
# top of a cache that will not be rebuilt, or a deferred install that will
# not happen, only makes the next boot further from what is installed).
#
#   munki-kcheck-preflight.sh [kcheck verify options…]       e.g. --root DIR
#
# Exit status, the same for both places Munki runs it:
#   0  go ahead: kcheck verify says healthy or attention
#   1  blocked: kcheck verify says broken (or attention, with
#      KCHECK_BLOCK_ON=attention)
#   3  blocked: kcheck is missing or failed (with KCHECK_ON_ERROR=allow: 0)
#
# As a pkginfo preinstall_script: a non-zero exit makes Munki skip the
# install (it is logged as failed and tried again at the next run). As the
# first step of an installcheck_script: Munki reads exit 0 as "install
# needed" and any other status as "installed", so call this script first
# and exit non-zero when it does, then do your usual check (docs/mdm.md has
# both pkginfo examples).
#
# Prints one line on standard output (it goes to Munki's log):
#   munki-kcheck-preflight: ok (healthy)
#   munki-kcheck-preflight: ok (attention: KX002)
#   munki-kcheck-preflight: blocked (broken: ST003 KB001 KX002): run "kcheck verify" for the remedy
#   munki-kcheck-preflight: blocked (error: kcheck exit 66: …)
#
# kcheck is found in this order: $KCHECK (a path, or a command name looked
# up on PATH), /usr/local/bin/kcheck, /opt/homebrew/bin/kcheck, `kcheck` on
# PATH (Munki's PATH is short: install kcheck in /usr/local/bin or set
# KCHECK). Do not pass --format or --json.
#
# POSIX sh (macOS /bin/sh, bash 3.2, zsh in sh mode, dash); needs only awk,
# mktemp and rm. kcheck only reads, and so does this script.

PROG='munki-kcheck-preflight'

case "${1:-}" in
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
esac

block_on=${KCHECK_BLOCK_ON:-broken}
case $block_on in
    broken | attention) ;;
    *)
        printf '%s: blocked (error: KCHECK_BLOCK_ON must be broken or attention, not %s)\n' "$PROG" "$block_on"
        exit 3
        ;;
esac

# A failure of kcheck itself: blocked unless KCHECK_ON_ERROR=allow.
failed() {
    if [ "${KCHECK_ON_ERROR:-block}" = allow ]; then
        printf '%s: ok (error ignored, KCHECK_ON_ERROR=allow: %s)\n' "$PROG" "$1"
        exit 0
    fi
    printf '%s: blocked (error: %s)\n' "$PROG" "$1"
    exit 3
}

# --- find kcheck --------------------------------------------------------
kcheck=
if [ -n "${KCHECK:-}" ]; then
    case $KCHECK in
        */*)
            [ -f "$KCHECK" ] && [ -x "$KCHECK" ] && kcheck=$KCHECK
            [ -n "$kcheck" ] || failed "kcheck not found: KCHECK=$KCHECK is not an executable file"
            ;;
        *)
            kcheck=$(command -v -- "$KCHECK" 2>/dev/null)
            case $kcheck in
                /*) ;;
                *) failed "kcheck not found: KCHECK=$KCHECK is not a command on PATH" ;;
            esac
            ;;
    esac
else
    for c in /usr/local/bin/kcheck /opt/homebrew/bin/kcheck; do
        if [ -f "$c" ] && [ -x "$c" ]; then
            kcheck=$c
            break
        fi
    done
    if [ -z "$kcheck" ]; then
        kcheck=$(command -v kcheck 2>/dev/null)
        case $kcheck in
            /*) ;;
            *) failed "kcheck not found (install it in /usr/local/bin, or set KCHECK)" ;;
        esac
    fi
fi

# --- run it -------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$PROG.XXXXXX") || failed "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 3' HUP INT TERM

"$kcheck" verify --format jsonl "$@" >"$tmp/out" 2>"$tmp/err"
status=$?

case $status in
    0 | 1 | 2) ;;
    *)
        msg=$(awk 'NF { print; exit }' "$tmp/err")
        failed "kcheck exit $status: ${msg:-no message}"
        ;;
esac

# --- the verdict and the codes ------------------------------------------
# "VERDICT CODE CODE…": the run record's verdict (from the exit status with
# an older kcheck that has none), then the error and warning codes, errors
# first, each once. A tiny reader of top-level JSON string fields: it walks
# each object so that keys inside "evidence" are never mistaken for ours.
summary=$(awk -v status="$status" '
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
function jget(s, key,   i, k) {
    i = index(s, "{") + 1
    while (i > 1 && i <= length(s)) {
        if (substr(s, i, 1) != "\"") { i++; continue }
        k = jstr(s, i); i = JEND
        while (substr(s, i, 1) ~ /[ :]/) i++
        if (k == key) return substr(s, i, 1) == "\"" ? jstr(s, i) : ""
        i = jskip(s, i)
    }
    return ""
}
function add(list, code) {
    return index(" " list " ", " " code " ") ? list : (list == "" ? code : list " " code)
}
/^[ \t]*\{/ {
    record = jget($0, "record")
    if (record == "run") { verdict = jget($0, "verdict"); next }
    if (record != "finding" && record != "") next
    code = jget($0, "code"); sev = jget($0, "severity")
    if (code !~ /^[A-Z][A-Z][0-9][0-9][0-9]$/) next
    if (sev == "error") errors = add(errors, code)
    else if (sev == "warning") warnings = add(warnings, code)
}
END {
    if (verdict !~ /^(healthy|attention|broken)$/)
        verdict = status == 0 ? "healthy" : status == 1 ? "attention" : "broken"
    codes = errors
    if (warnings != "") codes = codes == "" ? warnings : codes " " warnings
    print verdict (codes == "" ? "" : " " codes)
}' "$tmp/out")

verdict=${summary%% *}
codes=${summary#"$verdict"}
codes=${codes# }
label=$verdict${codes:+: $codes}

if [ "$verdict" = broken ] || { [ "$verdict" = attention ] && [ "$block_on" = attention ]; }; then
    printf '%s: blocked (%s): run "kcheck verify" for the remedy\n' "$PROG" "$label"
    exit 1
fi
printf '%s: ok (%s)\n' "$PROG" "$label"
exit 0
