//! Arbitrary bytes and time steps into the SIP endpoint and the B2BUA on top
//! of it (see `src/driver.rs` for how the input is read).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tonegate_fuzz::driver::run(data);
});
