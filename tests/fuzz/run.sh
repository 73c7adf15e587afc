#!/usr/bin/env bash
# Builds the fuzz targets (clang-14 + libFuzzer, ASan + UBSan) in build-fuzz/ and runs each for
# SECONDS, JOBS at a time (default 1), niced. Usage:
#   tests/fuzz/run.sh SECONDS [TARGET...]        (all targets when none is named)
# Each target mutates a working corpus in build-fuzz/corpus/TARGET, started from seeds/TARGET.
# A crash leaves its input in build-fuzz/crashes/TARGET/; commit it to regressions/TARGET/ (CTest
# replays it from then on) and fix the bug. Prints one line per target: executions, corpus size,
# crashes; exits 1 when any target crashed. Environment: JOBS, CC (default clang-14), BUILD.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
secs="${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}"
shift
build="${BUILD:-$src/build-fuzz}"
jobs="${JOBS:-1}"
all=(reader_tsv reader_csv reader_fasttext reader_jsonl json config tokenize args corpus_file model_file ckpt_file serve_request)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

cc="${CC:-clang-14}"
command -v "$cc" >/dev/null || { echo "run.sh: $cc not found (Debian: apt-get install clang-14 libfuzzer-14-dev)" >&2; exit 1; }
cmake -S "$src" -B "$build" -DTCDIST_FUZZ=ON -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target $(printf "fuzz_%s " "${targets[@]}") >/dev/null

# leaks are reported at exit by LeakSanitizer; OpenMP/MPI runtimes keep some on purpose
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

run_one() {
  local t="$1" corpus="$build/corpus/$1" crashes="$build/crashes/$1" log="$build/logs/$1.log"
  mkdir -p "$corpus" "$crashes" "$build/logs"
  local maxlen=4096
  case "$t" in reader_*) maxlen=16384 ;; *_file) maxlen=200000 ;; esac
  local dict=()
  [ -f "$here/dicts/$t.dict" ] && dict=(-dict="$here/dicts/$t.dict")
  local seeds=()
  [ -d "$here/seeds/$t" ] && seeds+=("$here/seeds/$t")
  [ -d "$here/regressions/$t" ] && seeds+=("$here/regressions/$t")
  set +e
  nice -n 10 "$build/tests/fuzz/fuzz_$t" "$corpus" "${seeds[@]}" -max_total_time="$secs" -max_len="$maxlen" \
    -timeout=20 -rss_limit_mb=3072 -artifact_prefix="$crashes/" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
  local rc=$?
  set -e
  local execs n_corpus n_crash
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  n_corpus=$(find "$corpus" -type f | wc -l)
  n_crash=$(find "$crashes" -type f | wc -l)
  printf '%-16s %4ss  rc %-3s executions %-10s corpus %-6s crashes %s\n' "$t" "$secs" "$rc" "$execs" "$n_corpus" "$n_crash"
  [ "$rc" -eq 0 ] && [ "$n_crash" -eq 0 ]
}

failed=0
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed
