#!/usr/bin/env bash
# Checks that wsg's C++ sources (src/, cli/, tests/, bench/) are formatted as .clang-format says,
# with clang-format 14 (Debian 12's clang-format-14; scripts/setup.sh installs it for the test set).
#   scripts/check-format.sh         list the files that differ and show the first differences; exit 1
#   scripts/check-format.sh --fix   format them in place
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fmt="$(command -v clang-format-14 || true)"
if [[ -z "$fmt" ]]; then
  echo "check-format: clang-format-14 not found (apt-get install clang-format-14, or scripts/setup.sh test)" >&2
  exit 2
fi
mapfile -t files < <(find src cli tests bench -path '*/node_modules' -prune -o -type f \( -name '*.h' -o -name '*.cpp' \) \
                       -print | sort)
if [[ "${1:-}" == "--fix" ]]; then
  "$fmt" -i --style=file "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
# One pass over every file, two at a time: quiet and quick when all is well.
if printf '%s\0' "${files[@]}" | xargs -0 -n 40 -P 2 "$fmt" --style=file --dry-run --Werror 2>/dev/null; then
  echo "check-format: ok (${#files[@]} files)"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  if ! "$fmt" --style=file "$f" | cmp -s - "$f"; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  for f in "${bad[@]}"; do
    echo "check-format: $f is not formatted (.clang-format):"
    "$fmt" --style=file "$f" | diff -u "$f" - | sed -n '3,20p'
  done
  echo "check-format: ${#bad[@]} of ${#files[@]} files differ; scripts/check-format.sh --fix formats them" >&2
  exit 1
fi
echo "check-format: ok (${#files[@]} files)"
