//! The cargo-fuzz harness (`fuzz/src/driver.rs`, shared by path) driven by
//! proptest on stable, so CI runs the same checks on every commit: random
//! programs of datagrams, time steps, transport errors and structured
//! responses / in-dialog requests against the B2BUA and its endpoint.

#[path = "../../../fuzz/src/driver.rs"]
#[allow(dead_code)]
mod driver;

use proptest::prelude::*;

/// Programs biased towards the structured operations (ops 2-5, 7), so
/// calls get set up, answered, PRACKed, cancelled and hung up.
fn program() -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        3 => (Just(2u8), any::<u8>()).prop_map(|(o, f)| vec![o, f]),
        4 => (Just(3u8), any::<[u8; 3]>()).prop_map(|(o, a)| vec![o, a[0], a[1], a[2]]),
        3 => (Just(4u8), any::<[u8; 3]>()).prop_map(|(o, a)| vec![o, a[0], a[1], a[2]]),
        1 => (Just(5u8), any::<[u8; 2]>()).prop_map(|(o, a)| vec![o, a[0], a[1]]),
        2 => (Just(1u8), 0u16..4000).prop_map(|(o, ms)| vec![o, (ms >> 8) as u8, ms as u8]),
        1 => (Just(6u8), any::<u8>()).prop_map(|(o, p)| vec![o, p]),
        1 => (Just(0u8), any::<u8>(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(o, who, b)| {
                let mut v = vec![o, who, 0, b.len() as u8];
                v.extend(b);
                v
            }),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(op, 0..60).prop_map(|ops| ops.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn structured_programs_never_break_the_b2bua(data in program()) {
        driver::run(&data);
    }

    #[test]
    fn arbitrary_bytes_never_break_the_b2bua(data in prop::collection::vec(any::<u8>(), 0..512)) {
        driver::run(&data);
    }
}
