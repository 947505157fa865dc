//! The CA install page, served to plain-HTTP requests for [`MAGIC_HOST`] through the proxy (or
//! straight to the proxy's own address): the CA in PEM and DER with short install steps.

use http::{header, HeaderValue, Response, StatusCode};

use super::upstream::{full, text_response, Body};
use crate::ca::CertificateAuthority;

/// The host name of the install page. `.invalid` is reserved (RFC 2606): no real server has it.
pub const MAGIC_HOST: &str = "pin-proxy.invalid";

/// The response for `path` on the install page.
pub(crate) fn respond(ca: &CertificateAuthority, path: &str) -> Response<Body> {
    match path {
        "/" | "/index.html" => page(ca),
        "/ca.pem" => file(
            ca.cert_pem().as_bytes().to_vec(),
            "application/x-pem-file",
            "pin-proxy-ca.pem",
        ),
        "/ca.crt" | "/ca.der" | "/ca.cer" => file(
            ca.cert_der().to_vec(),
            "application/x-x509-ca-cert",
            "pin-proxy-ca.crt",
        ),
        _ => text_response(
            StatusCode::NOT_FOUND,
            "pin-proxy: try /, /ca.pem or /ca.crt\n".into(),
        ),
    }
}

fn file(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn page(ca: &CertificateAuthority) -> Response<Body> {
    let html = format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>pin-proxy CA</title></head>
<body style="font-family: sans-serif; max-width: 46em; margin: 1em auto; padding: 0 1em">
<h1>pin-proxy test CA</h1>
<p>This CA was generated on the machine running pin-proxy. Install it only on test devices,
and remove it when you are done: whoever holds its key can read that device's TLS traffic.</p>
<p><b>Subject:</b> {subject}<br><b>Valid until:</b> {not_after}<br>
<b>SPKI pin (SHA-256):</b> <code>{pin}</code></p>
<p>Download: <a href="/ca.crt">ca.crt (DER)</a> · <a href="/ca.pem">ca.pem (PEM)</a></p>
<h2>Android</h2>
<ol><li>Download <a href="/ca.crt">ca.crt</a>.</li>
<li>Settings → Security → Encryption &amp; credentials → Install a certificate → CA certificate.</li>
<li>Apps targeting Android 7 (API 24) or later trust user CAs only if their network security
config says <code>&lt;certificates src="user"/&gt;</code>; debug builds can add it under
<code>&lt;debug-overrides&gt;</code>.</li></ol>
<h2>iOS</h2>
<ol><li>Open this page in Safari and download <a href="/ca.crt">ca.crt</a>; allow the profile.</li>
<li>Settings → General → VPN &amp; Device Management → install the downloaded profile.</li>
<li>Settings → General → About → Certificate Trust Settings → turn on full trust for it.</li></ol>
<h2>Desktop</h2>
<ul><li>curl: <code>--cacert pin-proxy-ca.pem</code> (or <code>CURL_CA_BUNDLE</code>).</li>
<li>Debian/Ubuntu: copy to <code>/usr/local/share/ca-certificates/pin-proxy.crt</code>, run
<code>update-ca-certificates</code>.</li>
<li>macOS: <code>security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db pin-proxy-ca.pem</code>.</li>
<li>Windows: <code>certutil -user -addstore Root pin-proxy-ca.crt</code>.</li>
<li>Firefox keeps its own store: Settings → Privacy &amp; Security → Certificates → Import.</li>
<li>Java: <code>keytool -importcert -alias pin-proxy -file pin-proxy-ca.pem -cacerts</code>.</li></ul>
<h2>PEM</h2>
<pre>{pem}</pre>
</body></html>
"#,
        subject = escape(ca.subject()),
        not_after = escape(ca.not_after()),
        pin = escape(ca.pin()),
        pem = escape(ca.cert_pem()),
    );
    let mut resp = Response::new(full(html));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
