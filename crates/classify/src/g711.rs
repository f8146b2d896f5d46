//! G.711 μ-law and A-law decoding (ITU-T G.711).
//!
//! Written by hand: the decode is a 256-entry table built at compile time, and the crates
//! that offer it pull in far more than the table.

/// Which G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law (PCMU, RTP payload type 0, WAV format tag 7).
    Mu,
    /// A-law (PCMA, RTP payload type 8, WAV format tag 6).
    A,
}

const fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let sign = a & 0x80;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn table(law: Law) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            Law::Mu => ulaw_to_linear(i as u8),
            Law::A => alaw_to_linear(i as u8),
        };
        i += 1;
    }
    t
}

static ULAW: [i16; 256] = table(Law::Mu);
static ALAW: [i16; 256] = table(Law::A);

impl Law {
    /// Decodes one byte.
    #[inline]
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Mu => ULAW[byte as usize],
            Law::A => ALAW[byte as usize],
        }
    }

    /// Decodes `bytes` into `out` (which must be at least as long); returns the samples written.
    #[inline]
    pub fn decode_into(self, bytes: &[u8], out: &mut [i16]) -> usize {
        let t = match self {
            Law::Mu => &ULAW,
            Law::A => &ALAW,
        };
        let n = bytes.len().min(out.len());
        for (o, b) in out[..n].iter_mut().zip(bytes) {
            *o = t[*b as usize];
        }
        n
    }

    /// Encodes one linear sample (used by tests and the test-data tools).
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => linear_to_ulaw(sample),
            Law::A => linear_to_alaw(sample),
        }
    }
}

fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (31 - (s as u32).leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 as i32 | mantissa) as u8
}

fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s >= 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s - 1;
    }
    s = s.min(32767);
    let code = if s < 256 {
        s >> 4
    } else {
        let exponent = 31 - (s as u32).leading_zeros() as i32 - 7;
        (exponent << 4) | ((s >> (exponent + 3)) & 0x0F)
    };
    ((code | sign) ^ 0x55) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(Law::Mu.decode(0xFF), 0);
        assert_eq!(Law::Mu.decode(0x7F), 0);
        assert_eq!(Law::Mu.decode(0x00), -32124);
        assert_eq!(Law::Mu.decode(0x80), 32124);
        assert_eq!(Law::A.decode(0xD5), 8);
        assert_eq!(Law::A.decode(0x55), -8);
        assert_eq!(Law::A.decode(0xAA), 32256);
        assert_eq!(Law::A.decode(0x2A), -32256);
    }

    #[test]
    fn every_code_survives_decode_encode() {
        for law in [Law::Mu, Law::A] {
            for b in 0..=255u8 {
                let x = law.decode(b);
                assert_eq!(law.decode(law.encode(x)), x, "{law:?} byte {b:#x}");
            }
        }
    }

    proptest! {
        #[test]
        fn quantisation_error_is_bounded(x in any::<i16>()) {
            for law in [Law::Mu, Law::A] {
                let y = law.decode(law.encode(x)) as i32;
                let err = (y - x as i32).abs();
                // Companding keeps the error within 1/16 of the magnitude (plus the smallest step).
                prop_assert!(err <= (x as i32).abs() / 16 + 16, "{law:?} {x} -> {y}");
            }
        }
    }
}
