//! Bytes → `Template::parse`: no panic, one-line errors; a parsed template keeps its source,
//! renders brace-free text to itself, and renders with any values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pin_proxy::scenario::template::{Placeholder, Template, Values};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Template::parse(&text) {
        Err(e) => pin_proxy_fuzz::check_value_error(&e),
        Ok(t) => {
            assert_eq!(t.source(), text);
            let empty = Values::new();
            let mut full = Values::new();
            for (i, p) in Placeholder::ALL.into_iter().enumerate() {
                full.insert(p, format!("<{i}>"));
            }
            let rendered = t.render(&full);
            let bare = t.render(&empty);
            assert!(bare.len() <= text.len(), "{text:?} rendered {bare:?}");
            assert!(!t.has_empty_value(&full));
            if !text.contains(['{', '}']) {
                assert_eq!(rendered, text);
                assert!(!t.has_empty_value(&empty));
            }
        }
    }
});
