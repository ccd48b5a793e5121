#!/usr/bin/env bash
# Tools the ecosystem tests run (tests/it/completions.rs, tests/it/mdm.rs):
# the shells the completion scripts and the MDM scripts are loaded in, the
# independent plist parser, shellcheck, ruby (the Homebrew formula's syntax),
# groff and man (the man page). Under CI=true those tests fail when a tool is
# missing, so .ci/run calls this first. Idempotent: installs only what is
# missing, and prints one line when it installed something, nothing otherwise.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

need=()
# command  Debian package
while read -r cmd pkg; do
  have "$cmd" || need+=("$pkg")
done <<'LIST'
bash bash
dash dash
zsh zsh
fish fish
plistutil libplist-utils
shellcheck shellcheck
ruby ruby
groff groff-base
man man-db
LIST

((${#need[@]})) || exit 0

if ! have apt-get; then
  echo "install-extras: no apt-get here; install these by hand: ${need[*]}" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  have sudo || { echo "install-extras: not root and no sudo; install: ${need[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-extras: installed ${need[*]}"
