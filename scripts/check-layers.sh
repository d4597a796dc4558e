#!/usr/bin/env bash
# Checks that every include of wsg's own headers in src/ and cli/ runs down the layers of
# src/layers.txt: a file in folder F may include a header of F itself or of a folder F may include
# (directly or through the folders it names). Also refuses a source file outside every layer and an
# include of wsg's own header written other than from src/ ("net/ws_session.h").
# Usage: scripts/check-layers.sh [ROOT]   (exit 1 with one line per offending include)
set -euo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$root"

declare -A deps=()
folders=()
while read -r folder _io rest; do
  [[ -z "$folder" || "$folder" == \#* ]] && continue
  folders+=("$folder")
  deps[$folder]="${rest//-/}"
done <src/layers.txt

# The folders each folder may include: itself and the closure of what it names.
declare -A allowed=()
closure() {  # folder -> prints the folders reachable from it, itself included
  local seen=" $1 " queue=("$1") f d
  while ((${#queue[@]})); do
    f="${queue[0]}"; queue=("${queue[@]:1}")
    for d in ${deps[$f]}; do
      if [[ "$seen" != *" $d "* ]]; then seen+="$d "; queue+=("$d"); fi
    done
  done
  echo "$seen"
}
for f in "${folders[@]}"; do allowed[$f]="$(closure "$f")"; done

# The layer a path under src/ (or cli/) belongs to: the longest folder of the table it lies in.
layer_of() {
  local path="$1" best="" f
  for f in "${folders[@]}"; do
    if [[ "$f" == cli ]]; then [[ "$path" == cli/* ]] && best=cli; continue; fi
    if [[ "$path" == "src/$f/"* && ${#f} -gt ${#best} ]]; then
      # only the folder itself, not a deeper one that is a layer of its own
      best="$f"
    fi
  done
  echo "$best"
}

bad=0
while IFS= read -r file; do
  from="$(layer_of "$file")"
  if [[ -z "$from" ]]; then
    echo "$file: not in any layer of src/layers.txt"
    bad=1
    continue
  fi
  while IFS=: read -r line inc; do
    inc="${inc#*\"}"; inc="${inc%%\"*}"
    to="$(layer_of "src/$inc")"
    if [[ -z "$to" || ! -f "src/$inc" ]]; then
      # Not one of wsg's headers from src/: fine for a header next to the file in cli/; else wrong.
      if [[ -f "$(dirname "$file")/$inc" && "$from" == cli ]]; then continue; fi
      echo "$file:$line: #include \"$inc\": not a header of src/ written from src/ (e.g. \"net/ws_session.h\")"
      bad=1
      continue
    fi
    if [[ "${allowed[$from]}" != *" $to "* ]]; then
      echo "$file:$line: #include \"$inc\": layer '$from' may not include layer '$to' (src/layers.txt)"
      bad=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find src cli -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.cc' \) | sort)

if ((bad)); then
  echo "check-layers: includes run against the layers (src/layers.txt, docs/architecture.md \"Layers\")" >&2
  exit 1
fi
echo "check-layers: ok (${#folders[@]} layers, every include runs down them)"
