#!/usr/bin/env python3
"""Turn an 8 kHz 16-bit mono WAV into a pcap of G.711 RTP, for sipp's
play_pcap_audio (which takes the RTP from the UDP payloads and the pacing
from the capture timestamps, and rewrites addresses and ports itself).

    wav2pcap.py IN.wav OUT.pcap [--law mu|a] [--seconds S] [--loop] [--ssrc N]

--seconds cuts the audio to S seconds; with --loop it is repeated until it
lasts S seconds (a looping announcement).

Standard library only: the G.711 encoders follow ITU-T G.711 (the
classic segment search), the capture is Ethernet/IPv4/UDP/RTP, 20 ms per
packet, PT 0 (mu-law) or 8 (A-law), marker on the first packet.
"""
import argparse
import struct
import sys
import wave

BIAS = 0x84
CLIP = 32635


def mulaw(sample):
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, CLIP) + BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def alaw(sample):
    sign = 0x80 if sample >= 0 else 0
    if sample < 0:
        sample = -sample - 1 if sample > -32768 else 32767
    sample >>= 3  # 13-bit magnitude
    if sample < 32:
        code = sample >> 1
    else:
        exponent = 1
        while sample >= (64 << (exponent - 1)) and exponent < 7:
            exponent += 1
        code = (exponent << 4) | ((sample >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wav")
    ap.add_argument("pcap")
    ap.add_argument("--law", choices=["mu", "a"], default="mu")
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--ssrc", type=int, default=0x746F6E65)
    args = ap.parse_args()

    with wave.open(args.wav, "rb") as w:
        if w.getframerate() != 8000 or w.getsampwidth() != 2:
            sys.exit("%s: need 8 kHz 16-bit PCM" % args.wav)
        channels = w.getnchannels()
        raw = w.readframes(w.getnframes())
    samples = struct.unpack("<%dh" % (len(raw) // 2), raw)[::channels]
    if args.seconds > 0:
        want = int(args.seconds * 8000)
        if args.loop:
            samples = samples * (want // len(samples) + 1)
        samples = samples[:want]
    encode, pt = (mulaw, 0) if args.law == "mu" else (alaw, 8)
    table = {}

    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    sport, dport = 6000, 7000
    with open(args.pcap, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        seq, ts = 1, 0
        for i in range(0, len(samples) - 159, 160):
            frame = samples[i : i + 160]
            payload = bytes(table.setdefault(s, encode(s)) for s in frame)
            rtp = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | pt, seq, ts, args.ssrc)
            udp_len = 8 + len(rtp) + len(payload)
            udp = struct.pack("!HHHH", sport, dport, udp_len, 0)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, seq & 0xFFFF, 0, 64, 17, 0, src, dst)
            ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
            eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
            frame_bytes = eth + ip + udp + rtp + payload
            t_us = (i // 160) * 20000
            out.write(struct.pack("<IIII", t_us // 1000000, t_us % 1000000, len(frame_bytes), len(frame_bytes)))
            out.write(frame_bytes)
            seq = (seq + 1) & 0xFFFF
            ts = (ts + 160) & 0xFFFFFFFF


if __name__ == "__main__":
    main()
