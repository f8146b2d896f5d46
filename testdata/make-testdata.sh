#!/usr/bin/env bash
# Regenerate tonegate's test data: wordings.tsv, library/, devset/ and pcap/.
#   bash testdata/make-testdata.sh [--seed N] [--jobs N] [--out DIR] [--voices a|b]
# --out writes the whole tree (wordings, library, devset, pcap) under DIR instead of here: a
# held-out draw to evaluate on, leaving the committed files alone. --voices b gives the
# carriers other voices (library and calls alike): a draw that tests other voices, not only
# other seeds.
# Needs: espeak-ng, sox with GSM and AMR-NB support (libsox-fmt-all), python3 with numpy.
# Deterministic: the same seed gives byte-identical files.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seed=20261123
jobs=0
out="$here"
voices=a
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed="$2"; shift 2 ;;
    --seed=*) seed="${1#*=}"; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    --jobs=*) jobs="${1#*=}"; shift ;;
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --voices) voices="$2"; shift 2 ;;
    --voices=*) voices="${1#*=}"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for tool in espeak-ng sox python3; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
espeak-ng --voices=cmn | grep -q cmn-latn-pinyin || { echo "espeak-ng lacks the cmn-latn-pinyin voice" >&2; exit 1; }
sox -h 2>/dev/null | grep -q 'amr-nb' || { echo "sox lacks the amr-nb format (install libsox-fmt-all)" >&2; exit 1; }
python3 -c 'import numpy' 2>/dev/null || { echo "python3 lacks numpy (pip install numpy)" >&2; exit 1; }
export LC_ALL=C.UTF-8 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
python3 "$here/gen/generate.py" --seed "$seed" --jobs "$jobs" --out "$out" --voices "$voices"
# The carrier's early media played by sipp in the end-to-end media tests: 6 s of a library
# announcement as PCMU RTP.
mkdir -p "$out/pcap"
python3 "$here/gen/wav2pcap.py" "$out/library/2114-empty-number/ct.wav" "$out/pcap/2114-ct-pcmu.pcap" --seconds 6
python3 "$here/gen/wav2pcap.py" "$out/library/2103-network-busy/ct.wav" "$out/pcap/2103-ct-pcmu.pcap" --seconds 6
# A carrier that loops its announcement for 30 s (the early-release test).
python3 "$here/gen/wav2pcap.py" "$out/library/2103-network-busy/ct.wav" "$out/pcap/2103-ct-loop30-pcmu.pcap" --seconds 30 --loop
