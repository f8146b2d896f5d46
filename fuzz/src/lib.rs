//! The fuzz harness logic, shared with a stable proptest in the workspace
//! (`crates/sip/tests/fuzz_driver.rs` includes `driver.rs` by path).

pub mod driver;
