#!/usr/bin/env bash
# Fuzzes wsg's decoders of untrusted input with libFuzzer (docs/security.md, "Fuzzing"):
#   bash scripts/fuzz.sh [TARGET|all] [SECONDS]
# TARGET is client_protocol, cluster_codec or config (the fuzz_ prefix is optional); all, the
# default, runs each in turn. SECONDS per target defaults to $WSG_FUZZ_SECONDS, else 60; 0 only
# replays the seed corpora. Extra libFuzzer flags: WSG_FUZZ_FLAGS (e.g. "-max_len=65536").
# WSG_FUZZ_RUNS=N makes the run deterministic instead: N inputs per target from a fixed seed
# (WSG_FUZZ_SEED, default 1) over the committed corpora, whatever SECONDS says. scripts/test.sh
# (and so CI) fuzzes that way, so a submission is never stopped by an input nobody changed;
# open-ended fuzzing for findings is this script without WSG_FUZZ_RUNS, run on purpose.
# A fixed seed alone is not enough: libFuzzer's comparison tracing sees pointer values, so address
# space randomisation changes which inputs it tries. The deterministic run therefore runs each
# target with randomisation off (`setarch -R`, util-linux), without its once-a-second rereading of
# the corpus directory (-reload=0), and with the corpus copied in name order;
# two runs of the same build then try the very same inputs (same coverage, corpus and lengths).
#
# Builds build-fuzz with clang-14 (-DWSG_FUZZ=ON, once, then incrementally), replays every seed
# corpus in tests/fuzz/corpus/ (a regression on a known input fails within seconds), then fuzzes
# each target from a temporary copy of its corpus: the repository is never written. A crash, leak,
# timeout (10 s per input) or RSS over 2 GiB fails the run; the reproducer is kept under
# build-fuzz/fuzz-artifacts/ and its path printed with the command that replays it.
# scripts/test.sh runs `fuzz.sh all` as its fuzz stage.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

all_targets=(client_protocol cluster_codec config)
want="${1:-all}"
seconds="${2:-${WSG_FUZZ_SECONDS:-60}}"
want="${want#fuzz_}"
if [ "$want" = "all" ]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $want "* ]]; then
  targets=("$want")
else
  echo "fuzz.sh: unknown target '$want' (expected one of: ${all_targets[*]} all)" >&2
  exit 2
fi
runs="${WSG_FUZZ_RUNS:-}"
seed="${WSG_FUZZ_SEED:-1}"
if [ -n "$runs" ] && ! [[ "$runs" =~ ^[0-9]+$ && "$seed" =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: WSG_FUZZ_RUNS and WSG_FUZZ_SEED must be whole numbers" >&2
  exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2
  exit 2
fi

build=build-fuzz
echo "== fuzz: build ($build, clang-14, ASan+UBSan+libFuzzer)"
CC=clang-14 CXX=clang++-14 bash scripts/build.sh "$build" \
  -DWSG_FUZZ=ON -DWSG_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo

work="$(mktemp -d "${TMPDIR:-/tmp}/wsg-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
stamp="$(date +%Y%m%d-%H%M%S)"

# Runs one target: fuzz_one TARGET SECONDS (0: replay the corpus only). Returns non-zero on a finding.
fuzz_one() {
  local t="$1" secs="$2"
  local bin="$here/$build/fuzz_$t"
  local corpus="$work/corpus-$t" log="$work/$t.log"
  local artifacts="$here/$build/fuzz-artifacts/$t-$stamp"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  # In name order: libFuzzer reads a directory in the order the file system lists it, which for a
  # small directory is the order its files were made.
  local f
  while IFS= read -r f; do cp "tests/fuzz/corpus/$t/$f" "$corpus/$f"; done < <(ls -1 "tests/fuzz/corpus/$t" | LC_ALL=C sort)
  mkdir -p "$artifacts"
  local bin_prefix=()
  local args=(-rss_limit_mb=2048 -timeout=10 -dict="tests/fuzz/$t.dict" -artifact_prefix="$artifacts/"
              -print_final_stats=1)
  if [ "$secs" -eq 0 ]; then
    args+=(-runs=0)
  elif [ -n "$runs" ]; then
    # -reload=0: libFuzzer otherwise rereads the corpus directory every second, a timer that
    # changes what it tries next.
    args+=(-runs="$runs" -seed="$seed" -reload=0)
    # Address space randomisation off, where the kernel lets us (else a warning, and the run is
    # only as deterministic as the addresses happen to be).
    if setarch "$(uname -m)" -R true 2>/dev/null; then
      bin_prefix=(setarch "$(uname -m)" -R)
    else
      echo "   fuzz_$t: WARNING: cannot turn address space randomisation off (setarch -R): the run may differ from the last" >&2
    fi
  else
    args+=(-max_total_time="$secs")
  fi
  # shellcheck disable=SC2086 # WSG_FUZZ_FLAGS is a list of flags
  if "${bin_prefix[@]}" "$bin" "${args[@]}" ${WSG_FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1; then
    rmdir "$artifacts" 2>/dev/null || true
    # The last status line (execs, coverage, corpus) and the final stats.
    local execs status
    execs="$(awk '/^stat::number_of_executed_units/ {print $2}' "$log")"
    status="$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/^#[0-9]+[[:space:]]+//')"
    if [ "$secs" -eq 0 ]; then
      echo "   fuzz_$t: ok, replayed $execs inputs ($status)"
    elif [ -n "$runs" ]; then
      echo "   fuzz_$t: ok, $execs execs from seed $seed ($status)"
    else
      echo "   fuzz_$t: ok, ${secs}s, $execs execs ($status)"
    fi
    return 0
  fi
  echo "!! fuzz_$t FAILED; the end of its output:"
  tail -n 60 "$log"
  local found
  found="$(ls -1 "$artifacts" 2>/dev/null || true)"
  if [ -n "$found" ]; then
    for f in $found; do
      echo "!! reproducer: $artifacts/$f"
      echo "!! replay it:  $build/fuzz_$t $artifacts/$f"
    done
  else
    rmdir "$artifacts" 2>/dev/null || true
    echo "!! no reproducer was written (see the output above)"
  fi
  return 1
}

failed=()
echo "== fuzz: replay the seed corpora"
for t in "${targets[@]}"; do
  fuzz_one "$t" 0 || failed+=("$t")
done
if ((${#failed[@]} == 0)) && { [ "$seconds" -gt 0 ] || [ -n "$runs" ]; }; then
  if [ -n "$runs" ]; then
    seconds=1  # fuzz_one's "not a replay" marker; -runs bounds the work
    echo "== fuzz: $runs runs per target from seed $seed (deterministic)"
  else
    echo "== fuzz: ${seconds}s per target"
  fi
  for t in "${targets[@]}"; do
    fuzz_one "$t" "$seconds" || failed+=("$t")
  done
fi
if ((${#failed[@]})); then
  echo "== fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzz: done"
