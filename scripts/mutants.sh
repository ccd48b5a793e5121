#!/usr/bin/env bash
# Mutation testing of the rules and report layers (issue 11), in a
# throwaway clone so the working tree is never mutated:
#   scripts/mutants.sh [SHARD] [FILE...]
# SHARD is k/n (default 0/1); FILES default to src/check and src/report.
# Results: target/mutants/<shard>/mutants.out/{caught,missed,unviable}.txt
# Every test of the layers that can observe a mutant runs (unit and
# integration); the tests of the layers below check/ (decoders, containers,
# readers, system, logs) are skipped with --skip: the layering test
# (tests/it/layers.rs) guarantees they never reach check/ or report/, so they
# cannot catch a mutant there and only cost time. Set MUTANTS_ALL_TESTS=1 to
# run them anyway. (Also skipped: the AuxKC reader's, the completion
# scripts', the generator-equality and the panic parser's robustness tests,
# which exercise readers, clap or the generator only.)
# MUTANTS_FILTER="golden verify" runs only the tests whose names contain
# one of those words (libtest filters): much faster per mutant, at the risk
# of calling "missed" a mutant that a test outside the filter catches
# (check each missed one against the whole suite before writing a test).
# Needs cargo-mutants (`cargo install cargo-mutants --locked`). A full run
# of both layers is about 600 mutants: hours on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
shard=${1:-0/1}
shift || true
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(src/check/*.rs src/report/*.rs)
fi
args=()
read -r -a filters <<< "${MUTANTS_FILTER:-}"
for f in "${files[@]}"; do args+=(-f "$f"); done
out="$PWD/target/mutants/${shard//\//-of-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q . "$work/kcheck"
# Tests read ../shared when it is there.
[ -d ../shared ] && ln -s "$(cd ../shared && pwd)" "$work/shared"
mkdir -p "$out"
skip=()
if [ -z "${MUTANTS_ALL_TESTS:-}" ]; then
  for layer in bounded_plist:: compress:: container:: macho:: prelink:: system:: logs:: \
      kext_version:: bytes:: input:: auxkc:: completions:: committed_roots \
      never_panics_on_truncations; do
    skip+=(--skip "$layer")
  done
fi
(cd "$work/kcheck" && CARGO_TARGET_DIR="$work/target" cargo mutants --in-place "${args[@]}" \
    --shard "$shard" --timeout 180 -o "$out" -- -- "${skip[@]}" "${filters[@]}")
