#!/usr/bin/env bash
# Run every fuzz target (or those named) for SECONDS each, two at a time
# (the machine has 2 cores), from seeds made by `cargo run --example
# fuzz_seeds`. Needs the nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz --locked
# Usage: fuzz/run.sh [SECONDS] [TARGET...]      (default 600 s, every target)
# Prints, per target, the executions run and whether a crash was found;
# crashing inputs land in fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(container lzss lzvn lzfse macho_prelink prelink_xml info_plist plist codesign versions panic_report zprint kextstat)
fi
cargo run -q --example fuzz_seeds -- fuzz/corpus >/dev/null
(cd fuzz && cargo +nightly fuzz build -O) || { echo "fuzz build failed" >&2; exit 2; }
mkdir -p fuzz/logs
run_one() {
  local t=$1
  (cd fuzz && cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 -print_final_stats=1 \
      >"logs/$t.log" 2>&1)
  local rc=$?
  local execs
  execs=$(grep -a "stat::number_of_executed_units" "fuzz/logs/$t.log" | awk '{print $2}' | tail -1)
  local crashes
  crashes=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  printf '%-14s %12s executions in %ss, exit %s, %s artifact(s)\n' "$t" "${execs:-?}" "$secs" "$rc" "$crashes"
}
status=0
i=0
for t in "${targets[@]}"; do
  run_one "$t" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
for t in "${targets[@]}"; do
  if ls "fuzz/artifacts/$t" >/dev/null 2>&1 && [ -n "$(ls fuzz/artifacts/$t)" ]; then status=1; fi
done
exit $status
