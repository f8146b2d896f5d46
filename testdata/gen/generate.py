#!/usr/bin/env python3
"""Deterministic generator of tonegate's test data.

Writes, under the output directory (normally testdata/):
  wordings.tsv                      the announcement texts per code and carrier
  library/<code>-<slug>/<cc>.wav    one cycle of each announcement (8 kHz mono s16 PCM)
  devset/calls/NNNN.wav             labelled early-media calls (G.711 u-law or A-law WAV)
  devset/labels.csv                 the labels

Needs python3 + numpy, sox (with GSM and AMR-NB support) and espeak-ng.
Every random draw comes from numpy.random.default_rng seeded from --seed; every sox
call runs with -R (repeatable) and -D (no dither), so two runs give identical bytes.
"""

import argparse
import math
import os
import shutil
import subprocess
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from texts import WORDINGS, ADS, CARRIER_NEG, LIBRARY_PROMPTS  # noqa: E402

SR = 8000
FRAME = 160  # 20 ms RTP frame

# ----------------------------------------------------------------------------------------
# Voices. Each library carrier has a fixed voice (Chinese part, English part), a pause
# between the Chinese and English parts, and the gap the network leaves between repetitions.
CARRIERS = {
    'cm': dict(zh=('cmn-latn-pinyin+f2', 62, 182), en=('en-us+f2', 60, 178), pause=0.45, gap=0.60),
    'cu': dict(zh=('cmn-latn-pinyin+m3', 40, 172), en=('en+m3', 42, 170), pause=0.55, gap=0.80),
    'ct': dict(zh=('cmn-latn-pinyin+f4', 50, 192), en=('en-us+f4', 52, 186), pause=0.50, gap=1.00),
}
CARRIER_ORDER = ['cm', 'cu', 'ct']

# Voice set B (`--voices b`): the same carriers in voices, pitches, paces, pauses and gaps
# that neither set A nor OTHER_VOICES uses. A held-out draw in set B (library and calls
# alike) shows whether what was tuned on set A holds for other voices.
CARRIERS_B = {
    'cm': dict(zh=('cmn-latn-pinyin+belinda', 66, 170), en=('en-us+belinda', 64, 168), pause=0.40, gap=0.70),
    'cu': dict(zh=('cmn-latn-pinyin+boris', 38, 180), en=('en+boris', 40, 176), pause=0.60, gap=0.90),
    'ct': dict(zh=('cmn-latn-pinyin+steph', 56, 176), en=('en-us+steph', 58, 172), pause=0.35, gap=1.20),
}

# Voices used by no library carrier (advertising speech, "same words, another voice").
OTHER_VOICES = [
    (('cmn-latn-pinyin+m1', 35, 130), ('en-gb+m1', 38, 135)),
    (('cmn-latn-pinyin+f1', 72, 172), ('en-us+f1', 70, 170)),
    (('cmn-latn-pinyin+m7', 48, 155), ('en+m7', 50, 150)),
    (('cmn-latn-pinyin+f5', 44, 144), ('en-gb+f5', 45, 140)),
    (('cmn-latn-pinyin+klatt', 55, 158), ('en-us+klatt', 55, 158)),
    (('cmn-latn-pinyin+m5', 62, 178), ('en+m5', 60, 175)),
    (('cmn-latn-pinyin+f3', 82, 136), ('en-us+f3', 80, 140)),
    (('cmn-latn-pinyin+m2', 28, 165), ('en-gb+m2', 30, 160)),
    (('cmn-latn-pinyin+Annie', 58, 148), ('en-us+Annie', 58, 148)),
    (('cmn-latn-pinyin+m6', 45, 122), ('en+m6', 45, 125)),
]

AMR_RATES = ['4.75k', '5.15k', '5.9k', '6.7k', '7.4k', '7.95k', '10.2k', '12.2k']
AMR_DELAY = 39  # samples of algorithmic delay of sox's AMR-NB round trip (compensated)

BABBLE_TEXTS = [
    ('en-us', 'The meeting has been moved to Thursday afternoon, so please bring the reports with you.'),
    ('de', 'Wir treffen uns morgen früh am Bahnhof und fahren dann gemeinsam in die Stadt.'),
    ('fr', 'Nous avons parlé pendant des heures de tout et de rien, puis nous sommes rentrés.'),
    ('es', 'El tren sale a las ocho y media, así que tenemos que salir de casa temprano.'),
    ('it', 'Ho comprato il pane e il latte, ma ho dimenticato le uova al supermercato.'),
    ('en-gb', 'I think the weather will be better next week, we could go walking by the river.'),
    ('pt', 'Ele disse que voltaria logo, mas ainda estamos esperando por ele aqui.'),
    ('nl', 'De kinderen spelen in de tuin terwijl de ouders koffie drinken in de keuken.'),
]


# ----------------------------------------------------------------------------------------
# Small audio helpers

def run(cmd, data=None):
    p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError('command failed: %s\n%s' % (' '.join(cmd), p.stderr.decode(errors='replace')))
    return p.stdout


F32 = ['-t', 'raw', '-e', 'floating-point', '-b', '32', '-r', str(SR), '-c', '1']


def sox_f32(x, effects):
    """Run float32 audio through a sox effects chain (8 kHz in, 8 kHz out)."""
    out = run(['sox', '-R', '-D', '-V1'] + F32 + ['-'] + F32 + ['-'] + effects,
              np.asarray(x, np.float32).tobytes())
    return np.frombuffer(out, np.float32).astype(np.float64)


def espeak(voice, text):
    """Synthesise text with espeak-ng and return float audio at 8 kHz."""
    name, pitch, speed = voice
    wav = run(['espeak-ng', '-v', name, '-p', str(pitch), '-s', str(speed), '--stdout', text])
    out = run(['sox', '-R', '-D', '-V1', '-t', 'wav', '-', '-t', 'raw', '-e', 'floating-point',
               '-b', '32', '-c', '1', '-', 'rate', '-h', str(SR)], wav)
    return np.frombuffer(out, np.float32).astype(np.float64)


def trim(x, keep=0.06, thr_db=-40.0):
    """Trim leading/trailing silence, keeping `keep` seconds at each end."""
    env = np.abs(x)
    peak = env.max() if len(env) else 0.0
    if peak <= 0:
        return x
    idx = np.nonzero(env > peak * 10 ** (thr_db / 20))[0]
    k = int(keep * SR)
    a = max(0, idx[0] - k)
    b = min(len(x), idx[-1] + 1 + k)
    y = x[a:b].copy()
    # pad if the margin was not available
    pre = k - (idx[0] - a)
    post = k - (b - idx[-1] - 1)
    return np.concatenate([np.zeros(pre), y, np.zeros(post)])


def zeros(sec):
    return np.zeros(int(round(sec * SR)))


def write_wav16(path, x):
    x = np.clip(np.round(np.asarray(x) * 32767.0), -32768, 32767).astype('<i2')
    with wave.open(path, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(x.tobytes())


def read_wav16(path):
    with wave.open(path, 'rb') as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), '<i2').astype(np.float64) / 32768.0


def write_g711(path, x, law):
    enc = 'u-law' if law == 'u' else 'a-law'
    run(['sox', '-R', '-D', '-V1'] + F32 + ['-', '-t', 'wav', '-e', enc, '-b', '8', path],
        np.clip(np.asarray(x, np.float32), -1.0, 1.0).tobytes())


def tone(freq, dur, amp=1.0, ramp=0.005, phase=0.0):
    n = int(round(dur * SR))
    t = np.arange(n) / SR
    if np.isscalar(freq):
        y = np.sin(2 * np.pi * freq * t + phase)
    else:
        y = sum(np.sin(2 * np.pi * f * t + phase) for f in freq) / len(freq)
    r = min(int(ramp * SR), n // 2)
    if r > 0:
        w = 0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r)
        y[:r] *= w
        y[n - r:] *= w[::-1]
    return amp * y


def cadence(freq, pattern, total, start=0.0):
    """Repeat an on/off pattern [(on, off), ...] for `total` seconds starting `start`
    seconds into the pattern; returns (audio, list of burst start times)."""
    period = sum(a + b for a, b in pattern)
    segs, starts = [], []
    t = -(start % period)
    out = []
    while t < total:
        for on, off in pattern:
            out.append((t, on))
            t += on + off
    y = np.zeros(int(round(total * SR)))
    for t0, on in out:
        a, b = t0, t0 + on
        if b <= 0 or a >= total:
            continue
        burst = tone(freq, on)
        i0 = int(round(a * SR))
        lo = max(0, -i0)
        hi = min(len(burst), len(y) - i0)
        if hi > lo:
            y[i0 + lo:i0 + hi] += burst[lo:hi]
            starts.append(max(a, 0.0))
    del segs
    return y, starts


# ----------------------------------------------------------------------------------------
# Noise sources

def pink(rng, n):
    w = rng.standard_normal(n)
    f = np.fft.rfft(w)
    k = np.arange(len(f))
    k[0] = 1
    f = f / np.sqrt(k)
    y = np.fft.irfft(f, n)
    return y / (np.std(y) + 1e-12)


def make_babble(seed):
    """A 30 s bed of 8 overlapping talkers in European languages (no Mandarin)."""
    rng = np.random.default_rng([seed, 777])
    total = 30 * SR
    bed = np.zeros(total)
    for i, (lang, text) in enumerate(BABBLE_TEXTS):
        v = espeak((lang, int(rng.integers(30, 70)), int(rng.integers(140, 180))), text)
        v = v / (np.std(v) + 1e-9)
        pos = int(rng.integers(0, SR))
        while pos < total:
            seg = v[:total - pos]
            bed[pos:pos + len(seg)] += seg
            pos += len(v) + int(rng.integers(SR // 10, SR))
    bed = bed / (np.std(bed) + 1e-12)
    return bed


BABBLE = None


def noise(rng, kind, n):
    if kind == 'white':
        y = rng.standard_normal(n)
    elif kind == 'pink':
        y = pink(rng, n)
    else:
        start = int(rng.integers(0, len(BABBLE)))
        reps = int(math.ceil((start + n) / len(BABBLE))) + 1
        y = np.tile(BABBLE, reps)[start:start + n]
    return y / (np.std(y) + 1e-12)


# ----------------------------------------------------------------------------------------
# Music-like colour ringback

PENTA = [0, 2, 4, 7, 9]


def note(freq, dur, rng, bright):
    n = int(round(dur * SR))
    t = np.arange(n) / SR
    y = np.zeros(n)
    for h in range(1, 9):
        if freq * h > 3600:
            break
        y += np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 2 * np.pi)) / h ** bright
    att = min(n, int(0.012 * SR))
    env = np.exp(-t * rng.uniform(1.5, 5.0))
    env[:att] *= np.linspace(0, 1, att)
    rel = min(n, int(0.03 * SR))
    env[n - rel:] *= np.linspace(1, 0, rel)
    return y * env


def music(rng, total):
    bpm = rng.uniform(68, 140)
    beat = 60.0 / bpm
    root = 220.0 * 2 ** (rng.integers(-3, 6) / 12)
    bright = rng.uniform(0.8, 2.0)
    n = int(round(total * SR))
    y = np.zeros(n + SR)
    scale = [root * 2 ** ((12 * o + s) / 12) for o in range(-1, 3) for s in PENTA]
    # melody
    idx = int(rng.integers(5, 10))
    t = 0.0
    while t < total:
        d = beat * rng.choice([0.5, 1, 1, 1, 2, 1.5])
        idx = int(np.clip(idx + rng.integers(-2, 3), 3, len(scale) - 2))
        if rng.random() > 0.08:
            s = note(scale[idx], d * 1.05, rng, bright)
            i0 = int(t * SR)
            y[i0:i0 + len(s)] += s[:len(y) - i0]
        t += d
    # chords (one per bar)
    has_chords = rng.random() < 0.8
    has_drums = rng.random() < 0.7
    bar = 4 * beat
    if has_chords:
        t = 0.0
        while t < total:
            b = int(rng.integers(0, 5))
            for k in (0, 2, 4):
                f = scale[b + k] / 2
                s = note(f, bar, rng, bright + 0.5) * 0.25
                i0 = int(t * SR)
                y[i0:i0 + len(s)] += s[:len(y) - i0]
            t += bar
    if has_drums:
        t = 0.0
        k = 0
        while t < total:
            i0 = int(t * SR)
            if k % 4 in (0, 2):  # kick: decaying low sweep
                m = int(0.15 * SR)
                tt = np.arange(m) / SR
                s = np.sin(2 * np.pi * (120 * tt - 150 * tt ** 2)) * np.exp(-tt * 25) * 0.9
            else:  # snare / hat: decaying noise burst
                m = int(0.12 * SR)
                tt = np.arange(m) / SR
                s = np.diff(rng.standard_normal(m + 1)) * np.exp(-tt * 30) * 0.35
            y[i0:i0 + len(s)] += s[:len(y) - i0]
            if rng.random() < 0.5:  # offbeat hat
                i1 = int((t + beat / 2) * SR)
                m = int(0.05 * SR)
                tt = np.arange(m) / SR
                s = np.diff(rng.standard_normal(m + 1)) * np.exp(-tt * 60) * 0.15
                y[i1:i1 + len(s)] += s[:max(0, len(y) - i1)]
            t += beat
            k += 1
    y = y[:n]
    return y / (np.max(np.abs(y)) + 1e-9) * 0.7, dict(bpm=bpm, chords=has_chords, drums=has_drums)


# ----------------------------------------------------------------------------------------
# The channel

def active_power(x):
    """Mean power of the 'active' 20 ms frames (within 25 dB of the loudest frame)."""
    m = len(x) // FRAME
    if m == 0:
        return float(np.mean(x ** 2) + 1e-20)
    e = np.mean(x[:m * FRAME].reshape(m, FRAME) ** 2, axis=1)
    thr = e.max() * 10 ** (-25 / 10)
    return float(np.mean(e[e >= thr]) + 1e-20)


def codec_roundtrip(x, codec):
    if codec in ('pcmu', 'pcma'):
        return x  # applied by the G.711 storage itself
    if codec == 'gsm':
        enc = run(['sox', '-R', '-D', '-V1'] + F32 + ['-', '-t', 'gsm', '-'],
                  np.clip(x, -1, 1).astype(np.float32).tobytes())
        y = np.frombuffer(run(['sox', '-R', '-D', '-V1', '-t', 'gsm', '-', '-t', 'raw', '-e',
                               'floating-point', '-b', '32', '-'], enc), np.float32)
    else:
        mode = AMR_RATES.index(codec.split('@')[1])
        enc = run(['sox', '-R', '-D', '-V1'] + F32 + ['-', '-t', 'amr-nb', '-C', str(mode), '-'],
                  np.clip(x, -1, 1).astype(np.float32).tobytes())
        y = np.frombuffer(run(['sox', '-R', '-D', '-V1', '-t', 'amr-nb', '-', '-t', 'raw', '-e',
                               'floating-point', '-b', '32', '-'], enc), np.float32)
        y = np.concatenate([y[AMR_DELAY:], np.zeros(AMR_DELAY)])
    y = y.astype(np.float64)
    if len(y) < len(x):
        y = np.concatenate([y, np.zeros(len(x) - len(y))])
    return y[:len(x)]


def packet_loss(x, rng, rate, burst, conceal):
    """Gilbert-Elliott loss over 20 ms frames: mean loss `rate`, mean burst `burst` frames."""
    m = int(math.ceil(len(x) / FRAME))
    r = 1.0 / burst
    p = rate * r / (1.0 - rate)
    bad = rng.random() < rate
    lost = np.zeros(m, bool)
    u = rng.random(m)
    for i in range(m):
        lost[i] = bad
        bad = (u[i] >= r) if bad else (u[i] < p)
    y = x.copy()
    last = np.zeros(FRAME)
    for i in range(m):
        a, b = i * FRAME, min(len(x), (i + 1) * FRAME)
        if lost[i]:
            y[a:b] = 0.0 if conceal == 'zero' else last[:b - a]
        else:
            last = np.concatenate([x[a:b], np.zeros(FRAME - (b - a))])
    return y, float(lost.mean())


def pick_codec(rng):
    c = rng.choice(['pcmu', 'pcma', 'gsm', 'amr'], p=[0.30, 0.20, 0.20, 0.30])
    if c == 'amr':
        return 'amr-nb@' + AMR_RATES[int(rng.integers(0, 8))]
    return str(c)


def channel(x, rng, onset, dist, opts):
    """Apply the channel to clean audio x (peak ~1). Returns (audio, onset in samples, law).
    opts: speed/eq/echo (bools: allowed), silence (level is the noise's), level_from_onset
    (level and SNR measured on what follows the onset: the announcement, not its prefix)."""
    n0 = len(x)
    effects = []
    sp = 1.0
    if opts.get('speed', True) and rng.random() < 0.6:
        sp = round(float(rng.uniform(0.985, 1.015)), 3)
        effects += ['speed', '%.3f' % sp, 'rate', '-h', str(SR)]
        dist.append('speed=%.3f' % sp)
    if opts.get('eq', True):
        e = rng.random()
        if e < 0.35:
            g = round(float(rng.uniform(-6, 6)), 1)
            effects += ['bass', '%.1f' % (-g / 2), '400', 'treble', '%.1f' % (g / 2), '2000']
            dist.append('tilt=%+.1fdB' % g)
        elif e < 0.50:
            effects += ['highpass', '300']
            dist.append('highpass=300Hz')
    if opts.get('echo', True) and rng.random() < 0.3:
        dl = int(rng.integers(20, 201))
        dc = round(float(rng.uniform(0.2, 0.5)), 2)
        effects += ['echo', '1', '1', str(dl), '%.2f' % dc]
        dist.append('echo=%dms/%.2f' % (dl, dc))
    if effects:
        x = sox_f32(x, effects)
        n1 = int(round(n0 / sp))
        x = x[:n1] if len(x) >= n1 else np.concatenate([x, np.zeros(n1 - len(x))])
    onset = int(round(onset / sp))
    # every call is 4-14 s long
    if len(x) < 4 * SR:
        x = np.concatenate([x, np.zeros(4 * SR - len(x))])
    x = x[:14 * SR]
    n = len(x)
    t = np.arange(n) / SR
    # level with slow gain wander
    if opts.get('silence'):
        lvl = float(rng.uniform(-72, -45))
        wander = 0.0
    else:
        lvl = float(rng.uniform(-30, -8))
        wander = round(float(rng.uniform(0, 3)), 1)
    period = rng.uniform(3, 12)
    g_db = lvl + wander * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    # The level and the SNR are the announcement's own: a louder tone before it must not
    # turn the speech down.
    if opts.get('silence'):
        ap = 1.0
    elif opts.get('level_from_onset'):
        ap = active_power(x[onset:])
    else:
        ap = active_power(x)
    x = x / math.sqrt(ap) * 10 ** (g_db / 20)
    dist.append('level=%.0fdBFS±%.1f' % (lvl, wander))
    # additive noise
    nk = str(rng.choice(['white', 'pink', 'babble'], p=[0.35, 0.4, 0.25]))
    if opts.get('silence'):
        x = x + noise(rng, nk, n) * 10 ** (lvl / 20)
        dist.append('noise=%s' % nk)
    else:
        snr = float(rng.uniform(5, 10)) if rng.random() < 0.25 else float(rng.uniform(10, 30))
        npow = 10 ** (lvl / 10) / 10 ** (snr / 10)
        x = x + noise(rng, nk, n) * math.sqrt(npow)
        dist.append('noise=%s' % nk)
        dist.append('snr=%.1fdB' % snr)
    x = np.clip(x, -1.0, 1.0)
    # codec
    codec = pick_codec(rng)
    x = codec_roundtrip(x, codec)
    dist.append('codec=%s' % codec)
    # packet loss
    if opts.get('loss', True) and rng.random() < 0.45:
        rate = float(rng.uniform(0.01, 0.10))
        burst = float(rng.uniform(1.0, 4.0))
        conceal = 'zero' if rng.random() < 0.5 else 'repeat'
        x, real = packet_loss(x, rng, rate, burst, conceal)
        dist.append('loss=%.1f%%/%s' % (100 * real, conceal))
    law = 'a' if codec == 'pcma' else 'u'
    return x, onset, law


# ----------------------------------------------------------------------------------------
# Library

def build_library(out):
    lib = os.path.join(out, 'library')
    if os.path.isdir(lib):
        shutil.rmtree(lib)
    rows = []
    for code, slug, cc, zh, py, en in WORDINGS:
        v = CARRIERS[cc]
        a = trim(espeak(v['zh'], py), keep=0.0)
        b = trim(espeak(v['en'], en), keep=0.0)
        y = np.concatenate([zeros(0.05), a, zeros(v['pause']), b, zeros(0.05)])
        y = y / np.max(np.abs(y)) * 10 ** (-3 / 20)
        d = os.path.join(lib, '%d-%s' % (code, slug))
        os.makedirs(d, exist_ok=True)
        write_wav16(os.path.join(d, cc + '.wav'), y)
        rows.append((code, cc, zh, py, en))
    # Known connecting prompts, filed without a code (see LIBRARY_PROMPTS). Made after the
    # coded references and from no random draw, so the dev set does not depend on them.
    d = os.path.join(lib, 'none-prompts')
    os.makedirs(d, exist_ok=True)
    for cc in CARRIER_ORDER:
        v = CARRIERS[cc]
        for i, (zh, py, en) in enumerate(LIBRARY_PROMPTS[cc]):
            write_wav16(os.path.join(d, '%s-%d.wav' % (cc, i)),
                        speak_cycle(v['zh'], v['en'], py, en, v['pause']))
    with open(os.path.join(out, 'wordings.tsv'), 'w', encoding='utf-8', newline='\n') as f:
        f.write('code\tcarrier\tzh\tpinyin\ten\n')
        for r in rows:
            f.write('\t'.join(str(c) for c in r) + '\n')


def speak_cycle(zhv, env, zh_py, en, pause):
    a = trim(espeak(zhv, zh_py), keep=0.0)
    parts = [zeros(0.05), a]
    if en:
        parts += [zeros(pause), trim(espeak(env, en), keep=0.0)]
    parts.append(zeros(0.05))
    y = np.concatenate(parts)
    return y / np.max(np.abs(y)) * 10 ** (-3 / 20)


# ----------------------------------------------------------------------------------------
# Calls

LIB = {}        # ref -> audio
REF_INFO = {}   # ref -> (code, carrier)


def loop_from(unit, offset, n):
    reps = int(math.ceil((offset + n) / len(unit))) + 1
    return np.tile(unit, reps)[offset:offset + n]


def make_prefix(rng, probs=(0.30, 0.25, 0.30, 0.15)):
    k = rng.choice(['none', 'silence', 'ringback', 'sit'], p=list(probs))
    if k == 'none':
        return np.zeros(0), 'prefix=none'
    if k == 'silence':
        s = float(rng.uniform(0.2, 3.0))
        return zeros(s), 'prefix=silence:%dms' % round(s * 1000)
    if k == 'ringback':
        cyc = int(rng.integers(1, 3))
        f = 450 + rng.uniform(-15, 15)
        parts = []
        for i in range(cyc):
            parts.append(tone(f, 1.0 * rng.uniform(0.95, 1.05)))
            off = 4.0 * rng.uniform(0.95, 1.05) if i < cyc - 1 else rng.uniform(0.3, 4.0)
            parts.append(zeros(off))
        return np.concatenate(parts), 'prefix=ringback:%d' % cyc
    parts = [tone(f, 0.330 * rng.uniform(0.9, 1.1)) for f in (950, 1400, 1800)]
    parts.append(zeros(rng.uniform(0.1, 1.0)))
    return np.concatenate(parts), 'prefix=sit'


# Level of a tone prefix relative to the announcement's active level (dB). China's ringback
# is sent at about -10 dBm0, recorded announcements at about -20..-15 dBm0; ITU-T E.180 puts
# the SIT at -24 dBm0.
PREFIX_LEVEL = {'ringback': (0.0, 10.0), 'sit': (-8.0, 2.0)}


def announcement_call(rng, ref, aux):
    """aux: a generator of its own for the prefix's level, so that adding that draw left
    every other draw of the call as it was."""
    code, cc = REF_INFO[ref]
    a = LIB[ref]
    gap = CARRIERS[cc]['gap'] * rng.uniform(0.95, 1.05)
    unit = np.concatenate([a, zeros(gap)])
    dist = []
    off = 0 if rng.random() < 1 / 3 else int(rng.uniform(0, 0.8) * len(a))
    dist.append('offset=%dms' % round(off * 1000 / SR))
    pre, ptxt = make_prefix(rng)
    dist.append(ptxt)
    kind = ptxt.split('=')[1].split(':')[0]
    if kind in PREFIX_LEVEL:
        rel = float(aux.uniform(*PREFIX_LEVEL[kind]))
        pre = pre * math.sqrt(active_power(a) / active_power(pre)) * 10 ** (rel / 20)
        dist.append('prefixlevel=%+.1fdB' % rel)
    plen = len(pre) / SR
    if rng.random() < 0.65:
        total = rng.uniform(max(4.0, plen + 3.0), 14.0) if plen + 3.0 < 14.0 else 14.0
        n = int(round((total - plen) * SR))
        body = loop_from(unit, off, n)
        dist.append('loop=%.1f' % ((n) / len(unit)))
        x = np.concatenate([pre, body])
    else:
        cut = rng.uniform(2.0, 4.0)
        body = loop_from(unit, off, int(round(cut * SR)))
        x = np.concatenate([pre, body])
        if len(x) < 4 * SR:
            x = np.concatenate([x, np.zeros(4 * SR - len(x))])
        dist.append('cut=%.1fs' % cut)
    y, onset, law = channel(x, rng, len(pre), dist, dict(level_from_onset=True))
    return y, law, dict(kind='announcement', code=str(code), label='announcement',
                        onset=onset, ref=ref, dist=dist)


TONES = {
    'busy': ([(0.35, 0.35)], '2101', 'busy_tone'),
    'congestion': ([(0.7, 0.7)], '2103', 'congestion_tone'),
    'unobtainable': ([(0.1, 0.1)] * 3 + [(0.4, 0.4)], '2114', 'unobtainable_tone'),
}


def tone_call(rng, which):
    pattern, code, label = TONES[which]
    c = round(float(rng.uniform(0.85, 1.15)), 3)
    f = round(float(450 + rng.uniform(-25, 25)), 1)
    dist = ['cadence=%.3f' % c, 'freq=%.1fHz' % f]
    pre, ptxt = make_prefix(rng, probs=(0.5, 0.3, 0.2, 0.0))
    if ptxt.startswith('prefix=ringback'):
        pre = pre[:int(round(rng.uniform(2.0, 5.0) * SR))]  # a single ringback cycle
        ptxt = 'prefix=ringback:1'
    dist.append(ptxt)
    plen = len(pre) / SR
    total = rng.uniform(max(4.0, plen + 3.0), 12.0)
    body, _ = cadence(f, [(a * c, b * c) for a, b in pattern], total - plen)
    x = np.concatenate([pre, body])
    y, onset, law = channel(x, rng, len(pre), dist, dict(speed=False, echo=False))
    return y, law, dict(kind='tone', code=code, label=label, onset=onset, ref='', dist=dist)


def neg_tone_call(rng, which):
    dist = []
    f = round(float(450 + rng.uniform(-25, 25)), 1)
    total = rng.uniform(4.0, 14.0)
    if which == 'dial_tone':
        lead = 0.0 if rng.random() < 0.6 else rng.uniform(0.1, 1.0)
        x = np.concatenate([zeros(lead), tone(f, total - lead, ramp=0.01)])
        onset = len(zeros(lead))
        dist += ['freq=%.1fHz' % f, 'lead=%dms' % round(lead * 1000)]
    else:
        c = round(float(rng.uniform(0.9, 1.1)), 3)
        on, off = (1.0, 4.0) if which == 'ringback' else (0.4, 4.0)
        if which == 'ringback':
            total = rng.uniform(5.0, 14.0)
        period = (on + off) * c
        start = 0.0 if rng.random() < 0.4 else rng.uniform(0, period)
        # make sure at least one burst is in the file
        x, starts = cadence(f, [(on * c, off * c)], total, start=start)
        while not starts:
            total += 1.0
            x, starts = cadence(f, [(on * c, off * c)], total, start=start)
        onset = int(round(starts[0] * SR))
        dist += ['cadence=%.3f' % c, 'freq=%.1fHz' % f, 'phase=%dms' % round(start * 1000)]
    y, onset, law = channel(x, rng, onset, dist, dict(echo=False))
    return y, law, dict(kind='negative', code='', label=which, onset=onset, ref='', dist=dist)


def music_call(rng):
    total = rng.uniform(4.0, 14.0)
    lead = 0.0 if rng.random() < 0.5 else rng.uniform(0.1, 1.5)
    m, info = music(rng, total - lead)
    x = np.concatenate([zeros(lead), m])
    dist = ['music=%dbpm%s%s' % (round(info['bpm']), '+chords' if info['chords'] else '',
                                  '+drums' if info['drums'] else ''),
            'lead=%dms' % round(lead * 1000)]
    y, onset, law = channel(x, rng, int(round(lead * SR)), dist, {})
    return y, law, dict(kind='negative', code='', label='music', onset=onset, ref='', dist=dist)


def speech_negative(rng, speech, dist, bed=True):
    """Loop a speech cycle (from a random offset) for 4-14 s, maybe over soft music."""
    total = rng.uniform(4.0, 14.0)
    lead = 0.0 if rng.random() < 0.5 else rng.uniform(0.1, 2.0)
    gap = rng.uniform(0.5, 1.5)
    unit = np.concatenate([speech, zeros(gap)])
    off = 0 if rng.random() < 0.5 else int(rng.uniform(0, 0.6) * len(speech))
    body = loop_from(unit, off, int(round((total - lead) * SR)))
    dist += ['offset=%dms' % round(off * 1000 / SR), 'lead=%dms' % round(lead * 1000)]
    if bed and rng.random() < 0.4:
        m, _ = music(rng, len(body) / SR)
        mdb = float(rng.uniform(-22, -12))
        body = body + m[:len(body)] * 10 ** (mdb / 20)
        dist.append('musicbed=%.0fdB' % mdb)
    x = np.concatenate([zeros(lead), body])
    y, onset, law = channel(x, rng, int(round(lead * SR)), dist, {})
    return y, law, onset


def ad_call(rng, i):
    zh, py = ADS[i % len(ADS)]
    vi = int(rng.integers(0, len(OTHER_VOICES)))
    zv = OTHER_VOICES[vi][0]
    sp = speak_cycle(zv, None, py, '', 0)
    dist = ['speech=ad%02d' % (i % len(ADS)), 'voice=%s/p%d/s%d' % zv]
    y, law, onset = speech_negative(rng, sp, dist)
    return y, law, dict(kind='negative', code='', label='unknown_speech', onset=onset, ref='', dist=dist)


def carrier_neg_call(rng, i):
    cc = CARRIER_ORDER[i % 3]
    lst = CARRIER_NEG[cc]
    j = (i // 3) % len(lst)
    zh, py, en = lst[j]
    v = CARRIERS[cc]
    sp = speak_cycle(v['zh'], v['en'], py, en, v['pause'])
    dist = ['speech=%s-prompt%d' % (cc, j), 'voice=carrier:%s' % cc]
    y, law, onset = speech_negative(rng, sp, dist, bed=False)
    return y, law, dict(kind='negative', code='', label='unknown_speech', onset=onset, ref='', dist=dist)


def same_words_call(rng, i):
    code, slug, cc, zh, py, en = WORDINGS[int(rng.integers(0, len(WORDINGS)))]
    vi = int(rng.integers(0, len(OTHER_VOICES)))
    zv, ev = OTHER_VOICES[vi]
    sp = speak_cycle(zv, ev, py, en, rng.uniform(0.4, 0.6))
    dist = ['words=%d-%s/%s' % (code, slug, cc), 'voice=%s/p%d/s%d' % zv]
    y, law, onset = speech_negative(rng, sp, dist, bed=False)
    return y, law, dict(kind='negative', code='', label='unknown_speech', onset=onset, ref='', dist=dist)


def silence_call(rng):
    total = rng.uniform(4.0, 14.0)
    x = zeros(total)
    dist = []
    y, onset, law = channel(x, rng, 0, dist, dict(speed=False, echo=False, silence=True))
    return y, law, dict(kind='negative', code='', label='silence', onset=0, ref='', dist=dist)


def plan(seed):
    """The list of calls (kind, argument), in file order."""
    rng = np.random.default_rng([seed, 1])
    refs = sorted(LIB)
    ann = refs * 5 + list(rng.choice(refs, 30, replace=False))
    items = [('ann', r) for r in ann]
    for w in TONES:
        items += [('tone', w)] * 20
    items += [('negtone', 'ringback')] * 20
    items += [('negtone', 'call_waiting_tone')] * 10
    items += [('negtone', 'dial_tone')] * 8
    items += [('music', 0)] * 25
    items += [('ad', i) for i in range(25)]
    items += [('carrier', i) for i in range(15)]
    items += [('same', i) for i in range(20)]
    items += [('silence', 0)] * 10
    order = rng.permutation(len(items))
    return [items[k] for k in order]


CTX = {}


def make_call(job):
    idx, (kind, arg) = job
    rng = np.random.default_rng([CTX['seed'], 1000 + idx])
    if kind == 'ann':
        y, law, lab = announcement_call(rng, arg, np.random.default_rng([CTX['seed'], 9000 + idx]))
    elif kind == 'tone':
        y, law, lab = tone_call(rng, arg)
    elif kind == 'negtone':
        y, law, lab = neg_tone_call(rng, arg)
    elif kind == 'music':
        y, law, lab = music_call(rng)
    elif kind == 'ad':
        y, law, lab = ad_call(rng, arg)
    elif kind == 'carrier':
        y, law, lab = carrier_neg_call(rng, arg)
    elif kind == 'same':
        y, law, lab = same_words_call(rng, arg)
    else:
        y, law, lab = silence_call(rng)
    name = 'calls/%04d.wav' % (idx + 1)
    write_g711(os.path.join(CTX['devset'], name), y, law)
    lab['file'] = name
    lab['onset_ms'] = int(round(lab['onset'] * 1000 / SR))
    return lab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, default=20261123)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    ap.add_argument('--jobs', type=int, default=0)
    ap.add_argument('--voices', choices=['a', 'b'], default='a',
                    help='the carriers\' voice set: a (the committed data) or b (held-out voices)')
    args = ap.parse_args()
    if args.voices == 'b':
        CARRIERS.update(CARRIERS_B)
    out = os.path.abspath(args.out)
    global BABBLE

    print('library ...', flush=True)
    build_library(out)
    for code, slug, cc, zh, py, en in WORDINGS:
        ref = '%d-%s/%s.wav' % (code, slug, cc)
        LIB[ref] = read_wav16(os.path.join(out, 'library', ref))
        REF_INFO[ref] = (code, cc)
    print('babble bed ...', flush=True)
    BABBLE = make_babble(args.seed)

    devset = os.path.join(out, 'devset')
    if os.path.isdir(devset):
        shutil.rmtree(devset)
    os.makedirs(os.path.join(devset, 'calls'))
    CTX['seed'] = args.seed
    CTX['devset'] = devset
    jobs = list(enumerate(plan(args.seed)))
    print('calls: %d ...' % len(jobs), flush=True)
    n = args.jobs or os.cpu_count() or 1
    if n > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(n) as p:
            labs = p.map(make_call, jobs, chunksize=4)
    else:
        labs = [make_call(j) for j in jobs]
    with open(os.path.join(devset, 'labels.csv'), 'w', encoding='utf-8', newline='\n') as f:
        f.write('file,kind,code,label,onset_ms,ref,distortions\n')
        for lab in labs:
            f.write(','.join([lab['file'], lab['kind'], lab['code'], lab['label'],
                              str(lab['onset_ms']), lab['ref'], ';'.join(lab['dist'])]) + '\n')
    print('done: %d calls' % len(labs), flush=True)


if __name__ == '__main__':
    main()
