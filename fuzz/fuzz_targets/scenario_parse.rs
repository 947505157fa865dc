//! Bytes → scenario file text → `scenario::parse`: no panic, one-line `NAME:LINE:` errors, and a
//! parsed suite whose references resolve and whose case names are unique.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use pin_proxy::scenario::model::PinRef;

const NAME: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match pin_proxy::scenario::parse::parse(NAME, "fuzz", &text) {
        Err(e) => pin_proxy_fuzz::check_file_error(NAME, &text, &e.to_string()),
        Ok(suite) => {
            assert!(!suite.cases.is_empty() && !suite.origins.is_empty());
            let names: BTreeSet<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
            // Known bug: a repeated `[matrix] origins` entry duplicates generated cases.
            assert!(names.len() == suite.cases.len(), "duplicate case names");
            for case in &suite.cases {
                let origin = &suite.origins[case.origin];
                assert!(origin.keys.contains(&case.origin_key));
                for pin in &case.pins {
                    match pin {
                        PinRef::Key { origin, key } => {
                            assert!(suite.origins[*origin].keys.contains(key))
                        }
                        PinRef::Intermediate(o) => assert!(suite.origins[*o].depth() > 2),
                        PinRef::Root(o) => assert!(*o < suite.origins.len()),
                        PinRef::Ca { origin, level } => {
                            assert!((2..suite.origins[*origin].depth() - 1).contains(level))
                        }
                        PinRef::Proxy(_) => {}
                        PinRef::Literal(p) => assert!(pin_proxy::pins::is_pin(p)),
                    }
                }
            }
            assert!(suite.proxy.decide_after > std::time::Duration::ZERO);
        }
    }
});
