//! Bytes → `duration::parse`: no panic, one-line errors, accepted values within a year.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match pin_proxy::duration::parse(&text) {
        Ok(d) => assert!(
            d <= std::time::Duration::from_secs(365 * 86_400),
            "{text:?} -> {d:?}"
        ),
        Err(e) => pin_proxy_fuzz::check_value_error(&e),
    }
});
