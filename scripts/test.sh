#!/usr/bin/env bash
# Installs what is missing, builds wsg with its tests, and runs the whole test suite:
#   0. the house rules, in seconds: every include runs down the layers of src/layers.txt
#      (scripts/check-layers.sh) and every C++ file is formatted as .clang-format says
#      (scripts/check-format.sh);
#   1. Release build (warnings as errors): unit and integration tests;
#   2. fuzz: clang-14 libFuzzer build, every seed corpus replayed, then each of the three decoder
#      targets fuzzed deterministically: WSG_FUZZ_RUNS inputs (default 300,000) from a fixed seed
#      over the committed corpora (scripts/fuzz.sh; open-ended fuzzing is that script alone);
#   3. ASan+UBSan build of wsg and its unit tests: the unit tests, then every integration test
#      again with this wsg under test (the Release build's harness, WSG_IT_WSG);
#   4. TSan build: the same, with only the unit tests that run a second thread (CMakeLists.txt)
#      (skipped with WSG_TEST_QUICK=1).
# The integration harness and the load generator hold no server code (the harness links only the
# I/O-free wsg_base): instrumenting them found nothing the server's own instrumentation does not,
# and building them twice more cost about 45 % of each sanitizer build. A sanitizer report in any
# wsg process's log fails the test that started it (tests/integration/harness.cpp).
# Each configuration is built once and its build reused for every test kind. Used as-is by .ci/run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
jobs="$(nproc)"
start=$(date +%s)

run_suite() {  # build dir, label, extra cmake args...
  local dir="$1" label="$2"; shift 2
  echo "== build: $label"
  bash scripts/build.sh "$dir" -DWSG_BUILD_TESTS=ON -DWSG_WARNINGS_AS_ERRORS=ON "$@"
  echo "== tests: $label"
  ctest --test-dir "$dir" --output-on-failure -j"$jobs"
  echo "== $label done at +$(( $(date +%s) - start ))s"
}

run_sanitized() {  # build dir, label, extra cmake args...: after run_suite build-test
  local dir="$1" label="$2"; shift 2
  echo "== build: $label (wsg and its unit tests)"
  WSG_BUILD_TARGETS="wsg wsg_unit_tests" bash scripts/build.sh "$dir" -DWSG_BUILD_TESTS=ON -DWSG_BUILD_BENCH=OFF \
    -DWSG_WARNINGS_AS_ERRORS=ON "$@"
  echo "== tests: $label: unit tests (one process)"
  # One process for all of them, not ctest's one per test case: a sanitized executable takes
  # 0.3-0.7 s to start, which was most of this step's 92 s for 329 cases. The Release stage runs
  # them one per process (isolation); here the point is the sanitizers' reports.
  (cd "$dir" && ./wsg_unit_tests)
  echo "== tests: $label: integration tests, the Release harness against $dir/wsg"
  # (ctest shows catch_discover_tests' prefix "integration: " without the space.)
  # --no-tests=error: a filter that matches nothing must fail, not pass.
  # WSG_IT_SLOWDOWN: the timing checks' scheduling margins ×3 (tests/integration/harness.h).
  WSG_IT_WSG="$here/$dir/wsg" WSG_IT_SLOWDOWN=3 ctest --test-dir build-test --output-on-failure --no-tests=error -j"$jobs" \
    -R '^integration:'
  echo "== $label done at +$(( $(date +%s) - start ))s"
}

bash scripts/setup.sh test
echo "== house rules"
bash scripts/check-layers.sh
bash scripts/check-format.sh
run_suite build-test "Release" -DCMAKE_BUILD_TYPE=Release
echo "== package: the Debian package from the Release build (scripts/package.sh)"
bash scripts/package.sh build-test
WSG_FUZZ_RUNS="${WSG_FUZZ_RUNS:-300000}" WSG_FUZZ_SEED="${WSG_FUZZ_SEED:-1}" bash scripts/fuzz.sh all
echo "== fuzz done at +$(( $(date +%s) - start ))s"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Debug (-O0): at -O2 this stage took 20 of CI's 36 minutes (GCC builds ASan+UBSan slowly when
# optimising); at -O0 it took about 7.5 (build and tests) with 263 tests. Line tables only (-g1):
# enough for the sanitizers' stack traces, and cheaper to compile and link than full debug
# information. A fresh clone on 2026-12-06, this machine: 41 minutes in all when every stage built
# everything; with wsg and its unit tests only in the sanitizer stages, Release done at +624 s,
# fuzz +704 s, ASan+UBSan build ~6.5 min and tests ~5.7 min, TSan build ~4 min and tests ~3 min:
# about 31 minutes.
run_sanitized build-asan "ASan+UBSan" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" -DWSG_SANITIZE=address
if [ "${WSG_TEST_QUICK:-0}" != "1" ]; then
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tests/tsan.supp"
  # -O1 -g1, asserts on: the largest file (src/net/ws_session.cpp) compiles in 76 s instead of 133 s
  # at RelWithDebInfo's -O2 -g, and TSan's own checks dominate the run time either way.
  run_sanitized build-tsan "TSan" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" -DWSG_SANITIZE=thread
fi
