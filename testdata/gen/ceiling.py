#!/usr/bin/env python3
"""What a generated set allows a classifier that never decides on a shared phrase.

    tonegate library --shared [--library DIR] > shared.txt
    python3 testdata/gen/ceiling.py [--voices b] shared.txt LABELS.csv [LABELS.csv ...]
    python3 testdata/gen/ceiling.py [--voices b] shared.txt LABELS.csv:REPORT.txt ...

(--voices b for draws made with `make-testdata.sh --voices b`: their carriers' gaps differ.)

For every announcement call it follows the reference frames (10 ms) the call plays from its
onset to its end (the offset into the cycle, the carrier's gap between repetitions, the
speed) and finds the earliest moment at which those frames hold 0.2 s that lie outside the
shared range covering most of them: the matcher's own rule (`short_distinct`: 0.2 s when
those frames agree closely, as they do under perfect hearing; else `min_distinct`, 0.4 s)
applied to perfect hearing, with the library's own map of shared phrases (`library
--shared`).

It prints the share of calls that ever reach that point (no classifier holding the rule can
give more of them their code) and the p50 / p90 of when they reach it after the onset (none
can decide earlier). Only the labels' distortions are read, not the audio: this measures the
set, not the classifier.

A labels file given as LABELS.csv:REPORT.txt, REPORT.txt being what `tonegate eval --verbose`
printed for it (`testdata/held-out.sh` writes one per draw), also measures the classifier
against the set: the share of calls heard right, by how much the call plays outside the
shared range covering most of what it plays (the words a decision may rest on), for calls
cut short and for the others. A call the report lists as an announcement not heard right is
a miss; every other announcement call of the labels is right.
"""

import csv
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import CARRIERS, CARRIERS_B  # noqa: E402

# Frames outside the main shared range the matcher needs at the least (its `short_distinct`,
# when they agree closely taken together), 10 ms each.
MIN_DISTINCT = 20


def read_shared(path):
    """reference name -> (frames, [(from, to) frames]) from `tonegate library --shared`."""
    out, name = {}, None
    for line in open(path, encoding='utf-8'):
        parts = line.split()
        if line.startswith('    shared (ms):') and name:
            ranges = [tuple(int(x) // 10 for x in p.split('-')) for p in parts[2:]]
            out[name] = (out[name][0], ranges)
        elif len(parts) == 4 and parts[1].isdigit():
            name = parts[0]
            out[name] = (int(parts[2]) // 10, [])
        else:
            name = None  # the header, or a reference without a code
    return out


def wav_seconds(path):
    """Length of a WAV file from its fmt and data chunks (G.711 WAVs carry a fact chunk and
    an 18-byte fmt, so the data does not start at byte 44)."""
    with open(path, 'rb') as f:
        data = f.read()
    pos, rate, bits = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack('<I', data[pos + 4:pos + 8])[0]
        if cid == b'fmt ':
            rate = struct.unpack('<I', data[pos + 12:pos + 16])[0]
            bits = struct.unpack('<H', data[pos + 22:pos + 24])[0]
        elif cid == b'data':
            return size / (rate * bits / 8)
        pos += 8 + size + (size & 1)
    raise ValueError('%s: no data chunk' % path)


def outside_shared(heard, shared):
    """How many of the `heard` frames lie outside the shared range holding most of them."""
    most = max((sum(1 for p in heard if a <= p < b) for a, b in shared), default=0)
    return len(heard) - most


def earliest(frames, shared, offset, gap, speed, length):
    """(First 10 ms step after onset at which the heard frames decide, or None; the frames
    heard by the end outside the shared range holding most of them)."""
    unit = frames + gap
    heard = set()
    first = None
    for t in range(length):
        pos = int(offset + t * speed) % unit
        if pos < frames:
            heard.add(pos)
        if first is not None or t % 5 or len(heard) < MIN_DISTINCT:
            continue
        if outside_shared(heard, shared) >= MIN_DISTINCT:
            first = t
    return first, outside_shared(heard, shared)


# Buckets of frames heard outside the shared range (10 ms each) for the accuracy table.
BUCKETS = [(0, 19), (20, 39), (40, 59), (60, 79), (80, 119), (120, 199), (200, None)]


def missed_in(report):
    """Calls an `eval --verbose` report lists as announcements not heard right."""
    out = set()
    for line in open(report, encoding='utf-8'):
        parts = line.split()
        if len(parts) > 1 and parts[1] == 'announcement:' and line.startswith('calls/'):
            out.add(parts[0])
    return out


def main():
    args = sys.argv[1:]
    carriers = CARRIERS
    if args[:2] == ['--voices', 'b']:
        carriers, args = CARRIERS_B, args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    shared = read_shared(args[0])
    calls, times = 0, []
    table = {}  # (cut, bucket) -> [right, calls]
    for arg in args[1:]:
        labels, _, report = arg.partition(':')
        missed = missed_in(report) if report else None
        base = os.path.dirname(labels)
        for row in csv.DictReader(open(labels, encoding='utf-8')):
            if row['kind'] != 'announcement':
                continue
            d = dict(kv.split('=', 1) for kv in row['distortions'].split(';') if '=' in kv)
            frames, ranges = shared[row['ref']]
            carrier = os.path.splitext(os.path.basename(row['ref']))[0]
            speed = float(d.get('speed', 1.0))
            onset = int(row['onset_ms']) / 1000
            if 'cut' in d:
                seconds = float(d['cut'].rstrip('s')) / speed
            else:
                seconds = wav_seconds(os.path.join(base, row['file'])) - onset
            t, outside = earliest(frames, ranges, int(d['offset'].rstrip('ms')) // 10,
                                  int(round(carriers[carrier]['gap'] * 100)), speed,
                                  int(seconds * 100))
            calls += 1
            if t is not None:
                times.append(t * 10)
            if missed is not None:
                b = next(b for b in BUCKETS if b[1] is None or outside <= b[1])
                cell = table.setdefault(('cut' in d, b), [0, 0])
                cell[0] += row['file'] not in missed
                cell[1] += 1
    times.sort()
    print('announcement calls            %d' % calls)
    print('decidable under the rule      %.1f %% (%d)' % (100 * len(times) / calls, len(times)))
    if times:
        print('earliest decision after onset p50 %d ms  p90 %d ms'
              % (times[len(times) // 2], times[int(len(times) * 0.9)]))
    if table:
        print('heard right, by the seconds a call plays outside the shared range')
        print('  %-10s %18s %18s' % ('seconds', 'not cut', 'cut'))
        for b in BUCKETS:
            span = '%.1f-%.1f' % (b[0] / 100, (b[1] + 1) / 100) if b[1] else '%.1f+' % (b[0] / 100)
            cells = []
            for cut in (False, True):
                right, n = table.get((cut, b), (0, 0))
                cells.append('%5d/%-5d %5.1f %%' % (right, n, 100 * right / n) if n else '%18s' % '-')
            print('  %-10s %s %s' % (span, cells[0], cells[1]))


if __name__ == '__main__':
    main()
