//! Bytes → `ServerFlight` (the scanner that tells whether our certificate went out): no panic,
//! `presented` never goes back, and splitting the same bytes into other writes changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pin_proxy::verdict::flight::ServerFlight;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the write size of the split run.
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let mut whole = ServerFlight::new();
    let presented = whole.feed(bytes);
    assert_eq!(presented, whole.presented());
    let mut pieces = ServerFlight::new();
    let mut was = false;
    for chunk in bytes.chunks(usize::from(split).max(1)) {
        let now = pieces.feed(chunk);
        assert!(now || !was, "presented went back");
        was = now;
    }
    // The scanner gives up after 64 KiB; below that the split cannot matter.
    if bytes.len() < 64 * 1024 {
        assert_eq!(pieces.presented(), presented, "split {split}");
    }
    if presented {
        assert!(whole.done());
    }
});
