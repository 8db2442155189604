#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets: the record decoder and rule-file
# parsing) for FUZZ_SECONDS (default 60), starting from the committed seeds, the
# shipped rules and the broken rule files of the tests. Exit 1 on the first crash,
# which libFuzzer saves under fuzz/artifacts/<target>/ with the input; an input that
# runs longer than 10 s is a crash too (a hang, not a slow test run).
#
# Without sanitizer instrumentation (`-s none`): librdkafka's build does not accept
# AddressSanitizer flags, and the targets are safe Rust, so the fuzzers look for
# panics, failed invariants and stack overflows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
seconds=${FUZZ_SECONDS:-60}

mkdir -p corpus/decode corpus/rules
cp seeds/decode/* corpus/decode/
cp ../rules/*.toml ../rules/tests/*.toml ../tests/rules_broken/*.toml corpus/rules/

cargo +nightly fuzz build -O -s none
for target in decode rules; do
  echo "== fuzzing $target for ${seconds} s"
  cargo +nightly fuzz run -O -s none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::number_of_executed_units|==|thread)|panicked|ERROR|SUMMARY' || true
  if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
    echo "fuzz.sh: $target crashed; inputs in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
