#!/bin/sh
# kcheck-extension-attribute.sh — a Jamf Pro extension attribute (and a
# custom script / custom fact for Kandji, Mosyle, Addigy and the like):
# runs `kcheck verify --format jsonl` and prints one line for the inventory.
#
#   <result>healthy</result>
#   <result>attention: KX002</result>
#   <result>broken: ST003 KB001 KX002</result>
#   <result>error: kcheck exit 66: kcheck: /: not a macOS system root: …</result>
#
# The verdict (healthy, attention, broken) comes first, then the codes of the
# error and warning findings (docs/findings.md), errors first, each once;
# info findings are left out. The line is at most 200 characters: codes that
# do not fit are counted ("+3 more"). Always exits 0, as Jamf expects; a
# failure is reported in the line (error: …), never by the exit status.
#
# kcheck is found in this order: $KCHECK (a path, or a command name looked up
# on PATH, e.g. KCHECK=kcheck), /usr/local/bin/kcheck,
# /opt/homebrew/bin/kcheck, `kcheck` on PATH. Options given to the script are
# passed to `kcheck verify` (e.g. --root DIR for a test); positional
# parameters an MDM adds (Jamf's mount point, computer and user names) are
# ignored. Do not pass --format or --json.
#
# POSIX sh (macOS /bin/sh, bash 3.2, zsh in sh mode, dash); needs only awk,
# mktemp and rm. kcheck only reads, and so does this script.

PROG='kcheck-extension-attribute'
MAX=200 # characters in the whole line, tags included

result() {
    printf '<result>%s</result>\n' "$1"
    exit 0
}

case "${1:-}" in
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    -*) ;;
    *) set -- ;; # no options: drop what an MDM may pass ($1 = "/", …)
esac

# --- find kcheck --------------------------------------------------------
kcheck=
if [ -n "${KCHECK:-}" ]; then
    case $KCHECK in
        */*)
            [ -f "$KCHECK" ] && [ -x "$KCHECK" ] && kcheck=$KCHECK
            [ -n "$kcheck" ] || result "error: kcheck not found: KCHECK=$KCHECK is not an executable file"
            ;;
        *)
            kcheck=$(command -v -- "$KCHECK" 2>/dev/null)
            case $kcheck in
                /*) ;;
                *) result "error: kcheck not found: KCHECK=$KCHECK is not a command on PATH" ;;
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
            *) result "error: kcheck not found (install it in /usr/local/bin, or set KCHECK)" ;;
        esac
    fi
fi

# --- run it -------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$PROG.XXXXXX") || result "error: cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 0' HUP INT TERM

"$kcheck" verify --format jsonl "$@" >"$tmp/out" 2>"$tmp/err"
status=$?

# --- one line -----------------------------------------------------------
# Reads the JSONL (finding records, then the run record with the verdict)
# with a tiny reader of top-level JSON string fields, which walks each
# object so that keys inside "evidence" are never mistaken for ours. Byte
# semantics (LC_ALL=C), so the limit and the cut are in bytes and a cut never
# splits a UTF-8 character.
LC_ALL=C awk -v status="$status" -v max="$MAX" -v errfile="$tmp/err" '
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
function clean(s) {                       # one safe line of text
    gsub(/[\001-\037\177]/, " ", s)
    gsub(/<\//, "< /", s)                 # never a closing tag inside ours
    return s
}
function cut(s, n) {                      # at most n bytes, whole characters
    if (length(s) <= n) return s
    s = substr(s, 1, n - 3)
    while (s ~ /[\200-\277]$/) s = substr(s, 1, length(s) - 1)
    if (s ~ /[\300-\377]$/) s = substr(s, 1, length(s) - 1)
    return s "..."
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
    room = max - length("<result></result>")
    if (status != 0 && status != 1 && status != 2) {
        msg = ""
        while ((getline line < errfile) > 0) if (line ~ /[^ \t]/) { msg = line; break }
        if (msg == "") msg = "no message"
        print "<result>" cut(clean("error: kcheck exit " status ": " msg), room) "</result>"
        exit
    }
    if (verdict !~ /^(healthy|attention|broken)$/)       # no run record (an older kcheck)
        verdict = status == 0 ? "healthy" : status == 1 ? "attention" : "broken"
    codes = errors
    if (warnings != "") codes = codes == "" ? warnings : codes " " warnings
    line = verdict
    n = split(codes, c, " ")
    if (n > 0) {
        full = verdict ":"
        for (i = 1; i <= n; i++) full = full " " c[i]
        # the most codes that fit with a count of the others
        for (k = n; k >= 0; k--) {
            line = verdict ":"
            for (i = 1; i <= k; i++) line = line " " c[i]
            if (k < n) line = line " +" (n - k) " more"
            if (length(line) <= room) break
        }
    }
    print "<result>" line "</result>"
}' "$tmp/out"
exit 0
