#!/usr/bin/env bash
# Runs every cargo-fuzz target for a fixed time, one after the other, and
# prints per target the executions run, the corpus size and the crashes found.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     (default: every target in fuzz/fuzz_targets)
#
# Targets (fuzz/src/lib.rs says what each checks):
#   capture   the capture reader: pcap, pcapng, gzip; whole, trickled and gzip-wrapped reads must agree
#   decode    the decoder: one frame under every link type tcpstate handles
#   pipeline  bytes in, report out: analysis plus every report format
#
# Needs cargo-fuzz (installed here if missing) and libFuzzer's build
# requirements (a C++ compiler). cargo-fuzz needs nightly compiler flags
# (-Zsanitizer=address and friends); the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, so no nightly toolchain is needed.
#
# Seeds: every capture under testdata/ (and the minimised crash inputs in
# testdata/fuzz/), copied into fuzz/corpus/TARGET, which grows between runs
# and is not committed. A crash stops that target; its input is saved under
# fuzz/artifacts/TARGET/ and the script goes on with the next target and exits
# 1 at the end. Minimise a crash with
#   RUSTC_BOOTSTRAP=1 cargo fuzz tmin TARGET fuzz/artifacts/TARGET/crash-...
# then add it to testdata/fuzz/TARGET/ with a line in testdata/README.md;
# tests/fuzz_regressions.rs replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
mapfile -t all < <(cargo fuzz list)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# Release build with debug assertions and overflow checks (cargo-fuzz's
# default), AddressSanitizer on. Built once; the runs below use these
# binaries, so editing the sources while the script runs changes nothing.
cargo fuzz build
bin="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"

mapfile -t captures < <(find testdata -type f ! -path 'testdata/fuzz/*' \
  ! -name '*.md' ! -name '*.ss.txt' | sort)
cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus "${captures[@]}"
for t in "${all[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  if [ -d "testdata/fuzz/$t" ]; then
    cp testdata/fuzz/"$t"/* "fuzz/corpus/$t/"
  fi
done

logs=fuzz/logs
mkdir -p "$logs"
summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="$logs/$t.log"
  echo "== $t: $secs s (log: $log)"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  # -rss_limit_mb: the reader may legitimately hold one 256 MiB record, plus
  # ASan's overhead; anything far above is a leak or unbounded growth.
  # -timeout: one input taking 10 s is a hang.
  set +e
  "$bin/$t" -artifact_prefix="fuzz/artifacts/$t/" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  after=$(find "fuzz/artifacts/$t" -type f | wc -l)
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  crashes=$((after - before))
  line="$t: ${execs:-?} executions in $secs s, corpus $corpus inputs, new crashes $crashes, exit $rc"
  echo "$line"
  summary+=("$line")
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    grep -m1 -A20 -E '^==[0-9]+==|panicked|ERROR: libFuzzer' "$log" || tail -30 "$log"
    ls -1 "fuzz/artifacts/$t"
  fi
done

echo
echo "== summary (rustc $(rustc --version | cut -d' ' -f2), $(date -u +%FT%TZ))"
printf '%s\n' "${summary[@]}"
exit "$failed"
