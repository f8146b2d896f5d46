//! A tiny deterministic PRNG for tags, branches and Call-IDs.
//!
//! The identifiers SIP needs must be unique, not secret (RFC 3261 §19.3
//! asks for "cryptographically random" tags only to resist guessing; the
//! caller decides how good the seed is). Determinism from a seed keeps every
//! test reproducible.

/// xorshift64* generator (Vigna 2014), seeded by the caller.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

/// The RFC 3261 §8.1.1.7 magic cookie every branch starts with.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

impl Rng {
    /// A generator from `seed`; a zero seed is replaced by a fixed constant
    /// (xorshift must not start at zero).
    pub fn new(seed: u64) -> Self {
        // splitmix64 scramble so that nearby seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `n` random lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let v = self.next_u64();
            for i in 0..16 {
                if s.len() == n {
                    break;
                }
                let nibble = ((v >> (i * 4)) & 0xf) as u32;
                s.push(char::from_digit(nibble, 16).unwrap_or('0'));
            }
        }
        s
    }

    /// A fresh RFC 3261 branch (`z9hG4bK` + 16 hex digits).
    pub fn branch(&mut self) -> String {
        format!("{BRANCH_MAGIC}{}", self.hex(16))
    }

    /// A fresh From/To tag (RFC 3261 §19.3: at least 32 bits of randomness).
    pub fn tag(&mut self) -> String {
        self.hex(12)
    }

    /// A fresh Call-ID local part (RFC 3261 §8.1.1.4).
    pub fn call_id(&mut self) -> String {
        self.hex(24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let (x, y, z) = (a.branch(), b.branch(), c.branch());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert!(x.starts_with(BRANCH_MAGIC));
        assert_eq!(x.len(), BRANCH_MAGIC.len() + 16);
    }

    #[test]
    fn values_do_not_repeat_quickly() {
        let mut r = Rng::new(0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(r.tag()));
        }
    }
}
