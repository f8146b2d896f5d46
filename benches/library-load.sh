#!/usr/bin/env bash
# Library load: the wall and CPU time of `tonegate library --library DIR`, whole process
# (decode, fingerprint, index, shared phrases), for a library of N references.
#   bash benches/library-load.sh [--count N] [--runs R] [--tempo] [--keep DIR]
# The library is the shipped library's 54 coded references and N - 54 more (default N 1000):
# - by default the synthetic variants the `library_lookup` bench's 1000-reference library
#   holds (each played 3-12 % faster or slower, pitch and all, rotated and cut to 4-7 s,
#   given codes round-robin), written by the `library_files` tool;
# - with --tempo, each of the 54 again 17 or 18 times at a tempo of 0.9-1.1x with its pitch
#   kept (sox's `tempo`), in its own code's folder: every carrier's greeting is then said by
#   hundreds of references of other codes, the costliest case for the shared-phrase search.
#   Needs sox.
# It builds tonegate and library_files in release, writes the library to a temporary folder
# (or DIR with --keep, reused when it exists), loads it R times (default 5), and prints each
# run and the median.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
count=1000
runs=5
tempo=0
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --tempo) tempo=1; shift ;;
    --keep) keep="$2"; shift 2 ;;
    -h|--help) sed -n "2,15p" "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ "$count" =~ ^[0-9]+$ && "$count" -ge 54 ]] || { echo "--count must be 54 or more" >&2; exit 2; }
[[ "$runs" =~ ^[0-9]+$ && "$runs" -ge 1 ]] || { echo "--runs must be 1 or more" >&2; exit 2; }
if [ "$tempo" = 1 ] && ! command -v sox >/dev/null 2>&1; then
  echo "--tempo needs sox (Debian: apt-get install sox)" >&2
  exit 2
fi

cd "$root"
cargo build --release --quiet -p tonegate --bin tonegate
cargo build --release --quiet -p tonegate-benches --bin library_files
target="${CARGO_TARGET_DIR:-$root/target}/release"

if [ -n "$keep" ]; then
  lib="$keep"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  lib="$tmp/library"
fi

if [ -d "$lib" ]; then
  echo "using the library already in $lib"
elif [ "$tempo" = 0 ]; then
  "$target/library_files" --out "$lib" --count "$count"
else
  # The 54 coded references, then variant k of reference i at a tempo spread over 0.9-1.1
  # by the golden-ratio sequence (the same factors on every run).
  mapfile -t refs < <(cd testdata/library && find . -name '*.wav' -path './2[0-9]*' | sort)
  extra=$((count - ${#refs[@]}))
  for i in "${!refs[@]}"; do
    ref="${refs[$i]#./}"
    mkdir -p "$lib/$(dirname "$ref")"
    cp "testdata/library/$ref" "$lib/$ref"
    n=$((extra / ${#refs[@]} + (i < extra % ${#refs[@]} ? 1 : 0)))
    mapfile -t factors < <(awk -v i="$i" -v n="$n" 'BEGIN {
      for (k = 0; k < n; k++) { x = (i * 18 + k) * 0.6180339887; printf "%.4f\n", 0.9 + 0.2 * (x - int(x)) } }')
    for k in "${!factors[@]}"; do
      sox -R -D "testdata/library/$ref" "$lib/${ref%.wav}-t$k.wav" tempo -s "${factors[$k]}"
    done
  done
  echo "$count references written to $lib (tempo variants)"
fi

echo "loading $(find "$lib" -type f | wc -l) files, $runs runs (wall s, CPU s):"
walls=()
TIMEFORMAT='%R %U %S'
for ((r = 1; r <= runs; r++)); do
  t=$({ time "$target/tonegate" library --library "$lib" >/dev/null; } 2>&1)
  read -r wall user sys <<<"$t"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  echo "  run $r: $wall s wall, $cpu s CPU"
  walls+=("$wall")
done
median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "median wall: $median s"
