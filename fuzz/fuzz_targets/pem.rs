//! Bytes → `pins`: PEM parsing, certificate pins, `is_pin` and `spki_pin` never panic, and every
//! pin they produce is a pin.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pin_proxy::pins;

fuzz_target!(|data: &[u8]| {
    match pins::pem_certs(data) {
        Ok(certs) => {
            assert!(!certs.is_empty());
            for c in certs {
                if let Ok(p) = pins::cert_pin(c.as_ref()) {
                    assert!(pins::is_pin(&p));
                }
            }
        }
        Err(e) => pin_proxy_fuzz::check_value_error(&e),
    }
    match pins::cert_pin(data) {
        Ok(p) => assert!(pins::is_pin(&p)),
        Err(e) => pin_proxy_fuzz::check_value_error(&e),
    }
    assert!(pins::is_pin(&pins::spki_pin(data)));
    let _ = pins::is_pin(&String::from_utf8_lossy(data));
});
