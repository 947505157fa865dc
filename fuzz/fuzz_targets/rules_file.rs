//! Bytes → rules file text → `rules::file::parse`: no panic, one-line `NAME:LINE:` errors; each
//! line also goes through `Rule::parse_profile` and `HostMap::parse` (the `--profile` and
//! `--map` flags).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pin_proxy::rules::{self, Action, HostMap, Rule};

const NAME: &str = "rules.toml";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match rules::file::parse(NAME, &text) {
        Err(e) => pin_proxy_fuzz::check_file_error(NAME, &text, &e),
        Ok(list) => {
            let set = rules::Rules::new(list);
            for r in set.rules() {
                assert!(!r.hosts.as_str().is_empty());
                // The rule's own pattern, as a host, is matched by it.
                if r.hosts.is_exact() {
                    assert!(r.hosts.matches(r.hosts.as_str()));
                }
            }
        }
    }
    for line in text.lines().take(8) {
        match Rule::parse_profile(line) {
            Ok(r) => assert!(matches!(r.action, Action::Intercept(_))),
            Err(e) => pin_proxy_fuzz::check_value_error(&e),
        }
        match HostMap::parse(line) {
            Ok(m) => assert!(!m.host.is_empty() && m.host == m.host.to_ascii_lowercase()),
            Err(e) => pin_proxy_fuzz::check_value_error(&e),
        }
    }
});
