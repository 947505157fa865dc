//! Bytes → (pattern, host) → `HostGlob`: no panic, errors are one line, matching agrees with a
//! reference matcher and ignores ASCII case, an exact pattern matches exactly its host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pin_proxy::rules::HostGlob;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, host) = text.split_once('\n').unwrap_or((&text, ""));
    match HostGlob::parse(pattern) {
        Err(e) => pin_proxy_fuzz::check_value_error(&e),
        Ok(g) => {
            assert_eq!(g.as_str(), pattern.trim().to_ascii_lowercase());
            let m = g.matches(host);
            assert_eq!(
                m,
                pin_proxy_fuzz::reference_match(g.as_str().as_bytes(), host.as_bytes()),
                "{pattern:?} vs {host:?}"
            );
            assert_eq!(m, g.matches(&host.to_ascii_uppercase()));
            assert!(g.matches(g.as_str()) || !g.is_exact());
            if g.is_exact() {
                assert_eq!(m, host.eq_ignore_ascii_case(g.as_str()));
            }
        }
    }
});
