#!/usr/bin/env bash
# Draw held-out sets and score the classifier on them, as the README's held-out table was
# measured: each seed drawn in voice sets A and B, each voice set scored with its library.
#   bash testdata/held-out.sh [--out DIR] [--tonegate BIN] [--jobs N] SEED|FIRST-LAST ...
# DIR (default held-out) gets one draw per seed and voice set, DIR/aSEED and DIR/bSEED; a
# draw already there is kept, so a second run with more seeds only draws the new ones.
# Voice set A is scored with the shipped library (testdata/library), B with voice set B's
# (testdata/regress/library-b: every --voices b draw has that same library). BIN defaults to
# the release build, made first with cargo. Each draw's calls not heard right (`eval
# --verbose`) go to DIR/report-aSEED.txt and DIR/report-bSEED.txt, each voice set's figures
# draw by draw to DIR/summary-a.txt and DIR/summary-b.txt. For each voice set it prints the
# totals over all its draws, then what the draws allow and how much of it was heard
# (gen/ceiling.py, with the reports).
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
    -h|--help) sed -n "2,14p" "$0"; exit 0 ;;
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
  for s in "${seeds[@]}"; do
    labels+=(--labels "$out/$v$s/devset/labels.csv")
  done
  # One run scores every draw: each set's figures, then all of them together, on standard
  # output; `--verbose` lists the calls not heard right on standard error, each line after
  # its labels file's path when there are several.
  "$bin" eval --verbose --library "$library" "${labels[@]}" \
    >"$out/summary-$v.txt" 2>"$out/calls-$v.txt" || { cat "$out/calls-$v.txt" >&2; exit 1; }
  pairs=()
  for s in "${seeds[@]}"; do
    l="$out/$v$s/devset/labels.csv"
    if [ "${#seeds[@]}" -eq 1 ]; then
      cp "$out/calls-$v.txt" "$out/report-$v$s.txt"
    else
      awk -v p="$l: " 'index($0, p) == 1 { print substr($0, length(p) + 1) }' \
        "$out/calls-$v.txt" >"$out/report-$v$s.txt"
    fi
    pairs+=("$l:$out/report-$v$s.txt")
  done
  echo "== voice set ${v^^}, seeds ${seeds[*]}"
  # The totals are the last block (the only one for a single draw).
  awk '/^== all/ { all = 1 } all || n == 1' n="${#seeds[@]}" "$out/summary-$v.txt"
  # What the draws allow, and what was heard right by how much each call allows
  # (README, *What the data allows*).
  "$bin" library --shared --library "$library" >"$out/shared-$v.txt"
  voices=()
  [ "$v" = b ] && voices=(--voices b)
  python3 "$here/gen/ceiling.py" "${voices[@]}" "$out/shared-$v.txt" "${pairs[@]}"
done
