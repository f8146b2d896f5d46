//! The instruction set this binary was built for, checked against the CPU it runs on.
//!
//! On x86-64 Linux the workspace builds for x86-64-v3 (`.cargo/config.toml`: AVX2, FMA,
//! BMI1/2, LZCNT, MOVBE, F16C). On a CPU without one of them, the first such instruction
//! would kill the process with SIGILL, at a place that says nothing of why; the binary
//! checks first and says what to do instead.
//!
//! The CPU's features are read from `/proc/cpuinfo`, not with `is_x86_feature_detected!`:
//! that macro answers `true` without asking the CPU for a feature the build was compiled
//! with, which is exactly the case to catch.

/// The x86 features this build was compiled to use (x86-64-v3's, or AVX-512's for a
/// `target-cpu=native` build on a CPU that has it), with their names in `/proc/cpuinfo`'s
/// flags. Empty for a build for the baseline.
fn compiled_features() -> Vec<(&'static str, &'static str)> {
    #[allow(unused_mut)]
    let mut features = Vec::new();
    // A macro: `cfg!` takes the name as a literal.
    macro_rules! compiled {
        ($(($feature:tt, $flag:tt)),*) => {
            $(
                if cfg!(all(target_arch = "x86_64", target_feature = $feature)) {
                    features.push(($feature, $flag));
                }
            )*
        };
    }
    compiled!(
        ("sse3", "pni"),
        ("ssse3", "ssse3"),
        ("sse4.1", "sse4_1"),
        ("sse4.2", "sse4_2"),
        ("popcnt", "popcnt"),
        ("cmpxchg16b", "cx16"),
        ("xsave", "xsave"),
        ("avx", "avx"),
        ("avx2", "avx2"),
        ("fma", "fma"),
        ("bmi1", "bmi1"),
        ("bmi2", "bmi2"),
        // Linux lists LZCNT as "abm" on Intel and AMD alike.
        ("lzcnt", "abm"),
        ("movbe", "movbe"),
        ("f16c", "f16c"),
        ("avx512f", "avx512f"),
        ("avx512bw", "avx512bw"),
        ("avx512cd", "avx512cd"),
        ("avx512dq", "avx512dq"),
        ("avx512vl", "avx512vl")
    );
    features
}

/// Of `features` (name, `/proc/cpuinfo` flag), those whose flag the first `flags` line of
/// `cpuinfo` does not list. Nothing when `cpuinfo` has no such line (nothing to go by).
fn missing_in(cpuinfo: &str, features: &[(&'static str, &'static str)]) -> Vec<&'static str> {
    let Some(flags) = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, flags)| flags.split_whitespace().collect::<Vec<_>>())
    else {
        return Vec::new();
    };
    features
        .iter()
        .filter(|(_, flag)| !flags.contains(flag))
        .map(|&(name, _)| name)
        .collect()
}

/// The features this build uses that the CPU running it lacks; empty when it lacks none,
/// and when the CPU cannot be asked (no `/proc/cpuinfo`).
pub fn missing_features() -> Vec<&'static str> {
    let features = compiled_features();
    if features.is_empty() {
        return Vec::new();
    }
    match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(cpuinfo) => missing_in(&cpuinfo, &features),
        Err(_) => Vec::new(),
    }
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

    /// A Haswell's flags (x86-64-v3, no AVX-512), abridged.
    const HASWELL: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de \
        pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse \
        sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc pni pclmulqdq ssse3 fma cx16 \
        pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm \
        abm fsgsbase bmi1 avx2 smep bmi2 erms invpcid xsaveopt\n\nprocessor\t: 1\n";

    const V3: [(&str, &str); 3] = [("avx2", "avx2"), ("lzcnt", "abm"), ("sse4.1", "sse4_1")];

    #[test]
    fn a_cpu_with_every_feature_lacks_none() {
        assert!(missing_in(HASWELL, &V3).is_empty());
    }

    #[test]
    fn a_cpu_without_avx2_is_found_out() {
        let older = HASWELL.replace(" avx2", "").replace(" abm", "");
        assert_eq!(missing_in(&older, &V3), ["avx2", "lzcnt"]);
        // AVX-512, which the Haswell lacks, named by a build that uses it.
        assert_eq!(missing_in(HASWELL, &[("avx512f", "avx512f")]), ["avx512f"]);
    }

    #[test]
    fn no_flags_line_says_nothing() {
        assert!(missing_in("processor\t: 0\n", &V3).is_empty());
        assert!(missing_in("", &V3).is_empty());
    }

    #[test]
    fn this_build_runs_on_this_machine() {
        // The tests run on a CPU that has what they were built for (CI builds for the
        // baseline on a CPU without AVX2): the real check must find nothing missing.
        assert_eq!(missing_features(), Vec::<&str>::new());
    }

    #[test]
    fn an_avx2_build_checks_avx2() {
        let names: Vec<&str> = compiled_features().iter().map(|&(n, _)| n).collect();
        assert_eq!(
            names.contains(&"avx2"),
            cfg!(all(target_arch = "x86_64", target_feature = "avx2")),
            "{names:?}"
        );
    }

    #[test]
    fn the_refusal_names_what_is_missing_and_the_way_out() {
        let text = refusal(&["avx2", "fma"]);
        assert!(text.contains("avx2, fma"), "{text}");
        assert!(text.contains("target-cpu"), "{text}");
    }
}
