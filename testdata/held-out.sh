#!/usr/bin/env bash
# Draw held-out sets and score the classifier on them, as the README's held-out table was
# measured: each seed drawn in voice sets A and B, each voice set scored with its library.
#   bash testdata/held-out.sh [--out DIR] [--tonegate BIN] [--jobs N] SEED|FIRST-LAST ...
# DIR (default held-out) gets one draw per seed and voice set, DIR/aSEED and DIR/bSEED; a
# draw already there is kept, so a second run with more seeds only draws the new ones.
# Voice set A is scored with the shipped library (testdata/library), B with voice set B's
# (testdata/regress/library-b: every --voices b draw has that same library). BIN defaults to
# the release build, made first with cargo. Per-draw reports (every call not heard right,
# `eval --verbose`) go to DIR/report-aSEED.txt and DIR/report-bSEED.txt. For each voice set
# it prints the totals over all its draws, then what the draws allow and how much of it was
# heard (gen/ceiling.py, with the reports).
# Needs what make-testdata.sh needs (espeak-ng, sox with libsox-fmt-all, python3 with numpy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out=held-out
bin=""
jobs=0
seeds=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --tonegate) bin="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n "2,13p" "$0"; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *-*)
      first="${1%-*}" last="${1#*-}"
      [[ "$first" =~ ^[0-9]+$ && "$last" =~ ^[0-9]+$ && "$first" -le "$last" ]] ||
        { echo "not a seed range: $1" >&2; exit 2; }
      for ((s = first; s <= last; s++)); do seeds+=("$s"); done
      shift ;;
    *)
      [[ "$1" =~ ^[0-9]+$ ]] || { echo "not a seed: $1" >&2; exit 2; }
      seeds+=("$1"); shift ;;
  esac
done
[ "${#seeds[@]}" -gt 0 ] || { echo "no seeds given (try: $0 501-506)" >&2; exit 2; }
if [ -z "$bin" ]; then
  (cd "$here/.." && cargo build --release -q -p tonegate)
  bin="${CARGO_TARGET_DIR:-$here/../target}/release/tonegate"
fi
mkdir -p "$out"
for s in "${seeds[@]}"; do
  for v in a b; do
    if [ ! -f "$out/$v$s/devset/labels.csv" ]; then
      echo "drawing seed $s, voice set ${v^^}" >&2
      # A draw cut short leaves no labels.csv: it is drawn again from scratch.
      rm -rf "${out:?}/$v$s"
      bash "$here/make-testdata.sh" --seed "$s" --voices "$v" --jobs "$jobs" --out "$out/$v$s" >/dev/null
    fi
  done
done
for v in a b; do
  library="$here/library"
  [ "$v" = b ] && library="$here/regress/library-b"
  labels=()
  pairs=()
  for s in "${seeds[@]}"; do
    # (`--verbose` lists the calls on standard error.)
    "$bin" eval --verbose --library "$library" --labels "$out/$v$s/devset/labels.csv" \
      >"$out/report-$v$s.txt" 2>&1 || { cat "$out/report-$v$s.txt" >&2; exit 1; }
    labels+=(--labels "$out/$v$s/devset/labels.csv")
    pairs+=("$out/$v$s/devset/labels.csv:$out/report-$v$s.txt")
  done
  echo "== voice set ${v^^}, seeds ${seeds[*]}"
  # Each set, then all of them together: the totals are the last block.
  "$bin" eval --library "$library" "${labels[@]}" | awk '/^== all/ { all = 1 } all || n == 1' n="${#seeds[@]}"
  # What the draws allow, and what was heard right by how much each call allows
  # (README, *What the data allows*).
  "$bin" library --shared --library "$library" >"$out/shared-$v.txt"
  voices=()
  [ "$v" = b ] && voices=(--voices b)
  python3 "$here/gen/ceiling.py" "${voices[@]}" "$out/shared-$v.txt" "${pairs[@]}"
done
