//! Bytes → a sequence of verdict `Event`s (every variant, arbitrary payloads) → a `Tracker`:
//! exactly one verdict, no panic, and the module doc's invariants.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pin_proxy::record::{RequestRecord, Stage};
use pin_proxy::verdict::{ClientEnd, Event};

fn text(u: &mut Unstructured) -> Result<String> {
    let len = u.int_in_range(0..=12)?;
    (0..len).map(|_| u.arbitrary::<char>()).collect()
}

fn request(u: &mut Unstructured) -> Result<RequestRecord> {
    Ok(RequestRecord {
        method: text(u)?,
        path: text(u)?,
        status: u.arbitrary()?,
        mapped_local: u.arbitrary()?,
    })
}

fn stage(u: &mut Unstructured) -> Result<Stage> {
    Ok(*u.choose(&[
        Stage::Connect,
        Stage::Handshake,
        Stage::AfterHandshake,
        Stage::Request,
        Stage::Tunnel,
    ])?)
}

fn end(u: &mut Unstructured) -> Result<ClientEnd> {
    Ok(match u.int_in_range(0..=5)? {
        0 => ClientEnd::Alert(u.arbitrary()?),
        1 => ClientEnd::CloseNotify,
        2 => ClientEnd::Eof,
        3 => ClientEnd::Reset,
        4 => ClientEnd::TimedOut,
        _ => ClientEnd::Error(text(u)?),
    })
}

fn event(u: &mut Unstructured) -> Result<Event> {
    Ok(match u.int_in_range(0..=17)? {
        0 => Event::BadProxyRequest { reason: text(u)? },
        1 => Event::PlainRequest(request(u)?),
        2 => Event::InstallPage(request(u)?),
        3 => Event::PassthroughOpened,
        4 => Event::InterceptOpened,
        5 => Event::UpstreamFailed {
            stage: stage(u)?,
            reason: text(u)?,
        },
        6 => Event::NotTls { reason: text(u)? },
        7 => Event::ClientHello,
        8 => Event::CertificatePresented,
        9 => Event::HandshakeFailed(end(u)?),
        10 => Event::HandshakeCompleted,
        11 => Event::DecideDeadline,
        12 => Event::ApplicationData,
        13 => Event::Request(request(u)?),
        14 => Event::ClientClosed(end(u)?),
        15 => Event::TunnelClosed,
        16 => Event::Answered {
            index: u.int_in_range(0..=70)?,
            status: u.arbitrary()?,
        },
        _ => Event::Stopped,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut events = Vec::new();
    while !u.is_empty() && events.len() < 64 {
        match event(&mut u) {
            Ok(e) => events.push(e),
            Err(_) => break,
        }
    }
    pin_proxy_fuzz::check_verdict(&events);
});
