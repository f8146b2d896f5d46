//! The instruction set this binary was built for, checked against the CPU it runs on.
//!
//! On x86-64 Linux the workspace builds for x86-64-v3 (`.cargo/config.toml`: AVX2, FMA,
//! BMI1/2, LZCNT, MOVBE, F16C). On a CPU without one of them, the first such instruction
//! would kill the process with SIGILL, at a place that says nothing of why; the binary
//! checks first and says what to do instead.

/// The x86 features this build may use (those the compiler was told it may: x86-64-v3's, or
/// AVX-512's for a `target-cpu=native` build on a CPU that has it) that the CPU running it
/// lacks. Empty on a build for the baseline, and off x86-64.
pub fn missing_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut missing = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        // A macro: both `cfg!` and the detection macro take the name as a literal.
        macro_rules! check {
            ($($feature:tt),*) => {
                $(
                    if cfg!(target_feature = $feature)
                        && !std::arch::is_x86_feature_detected!($feature)
                    {
                        missing.push($feature);
                    }
                )*
            };
        }
        check!(
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "cmpxchg16b",
            "xsave",
            "avx",
            "avx2",
            "fma",
            "bmi1",
            "bmi2",
            "lzcnt",
            "movbe",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512cd",
            "avx512dq",
            "avx512vl"
        );
    }
    missing
}

/// The message for a CPU that lacks `missing`.
pub fn refusal(missing: &[&str]) -> String {
    format!(
        "tonegate: this binary was built for CPUs with {} and this one lacks them; build it \
         for this CPU with RUSTFLAGS=\"-C target-cpu=native\" (or \"-C target-cpu=x86-64\" for \
         any x86-64), see the README's \"Building for a CPU\"",
        missing.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_that_built_the_tests_runs_them() {
        // The tests run on the CPU they were built for (CI builds for the baseline where
        // the CPU lacks x86-64-v3): nothing may be missing.
        assert_eq!(missing_features(), Vec::<&str>::new());
    }

    #[test]
    fn the_refusal_names_what_is_missing_and_the_way_out() {
        let text = refusal(&["avx2", "fma"]);
        assert!(text.contains("avx2, fma"), "{text}");
        assert!(text.contains("target-cpu"), "{text}");
    }
}
