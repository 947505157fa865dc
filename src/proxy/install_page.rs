//! The CA install page, served to plain-HTTP requests for [`MAGIC_HOST`] through the proxy (or
//! straight to the proxy's own address): the CA certificate as PEM, DER and an iOS configuration
//! profile, with the install steps people miss and the CA's pin and fingerprint to compare with
//! the proxy's banner. It serves the certificate only: the key never leaves [`crate::ca`].

use base64::Engine as _;
use http::{header, HeaderValue, Response, StatusCode};

use super::upstream::{full, text_response, Body};
use crate::ca::CertificateAuthority;

/// The host name of the install page. `.invalid` is reserved (RFC 2606): no real server has it.
pub const MAGIC_HOST: &str = "pin-proxy.invalid";

/// The network security config an Android app needs to trust user CAs in its debug builds.
const ANDROID_NSC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- res/xml/network_security_config.xml; in AndroidManifest.xml:
     <application android:networkSecurityConfig="@xml/network_security_config" ...> -->
<network-security-config>
    <debug-overrides>
        <trust-anchors>
            <certificates src="user"/>
        </trust-anchors>
    </debug-overrides>
</network-security-config>"#;

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
        "/ca.mobileconfig" => file(
            mobileconfig(ca).into_bytes(),
            "application/x-apple-aspen-config",
            "pin-proxy-ca.mobileconfig",
        ),
        _ => text_response(
            StatusCode::NOT_FOUND,
            "pin-proxy: try /, /ca.pem, /ca.crt or /ca.mobileconfig\n".into(),
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

/// Two UUIDs (version 4 in shape) that are the same for the same CA key and differ for
/// another: the profile's and its root payload's. iOS replaces an installed profile with one of
/// the same identifier, so a re-downloaded profile of the same CA replaces the old one, and a
/// new CA's profile is installed beside it.
fn profile_uuids(ca: &CertificateAuthority) -> [String; 2] {
    let pin = base64::engine::general_purpose::STANDARD
        .decode(ca.pin())
        .unwrap_or_else(|_| ca.pin().as_bytes().to_vec());
    let mut input = b"pin-proxy mobileconfig\0".to_vec();
    input.extend_from_slice(&pin);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    let (a, b) = digest.as_ref().split_at(16);
    [uuid_v4_shape(a), uuid_v4_shape(b)]
}

/// Formats 16 bytes as a UUID with the version 4 and RFC 4122 variant bits set.
fn uuid_v4_shape(bytes: &[u8]) -> String {
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(bytes) {
        *dst = *src;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The iOS configuration profile: one `com.apple.security.root` payload holding the CA's DER.
/// Unsigned: iOS shows it as "Not Verified", which is expected for a local test CA.
fn mobileconfig(ca: &CertificateAuthority) -> String {
    let [profile_uuid, root_uuid] = profile_uuids(ca);
    let b64 = base64::engine::general_purpose::STANDARD.encode(ca.cert_der());
    let mut data = String::new();
    for chunk in b64.as_bytes().chunks(64) {
        data.push_str("\t\t\t");
        data.push_str(&String::from_utf8_lossy(chunk));
        data.push('\n');
    }
    let name = escape(&format!("pin-proxy CA: {}", ca.common_name()));
    let cn = escape(ca.common_name());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadCertificateFileName</key>
			<string>pin-proxy-ca.crt</string>
			<key>PayloadContent</key>
			<data>
{data}			</data>
			<key>PayloadDescription</key>
			<string>Adds the pin-proxy test CA {cn} as a trusted root.</string>
			<key>PayloadDisplayName</key>
			<string>{cn}</string>
			<key>PayloadIdentifier</key>
			<string>invalid.pin-proxy.ca.{profile_uuid}.root</string>
			<key>PayloadType</key>
			<string>com.apple.security.root</string>
			<key>PayloadUUID</key>
			<string>{root_uuid}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
	</array>
	<key>PayloadDescription</key>
	<string>The pin-proxy test CA, for test devices only. After installing, turn on full trust under Settings &gt; General &gt; About &gt; Certificate Trust Settings.</string>
	<key>PayloadDisplayName</key>
	<string>{name}</string>
	<key>PayloadIdentifier</key>
	<string>invalid.pin-proxy.ca.{profile_uuid}</string>
	<key>PayloadOrganization</key>
	<string>pin-proxy</string>
	<key>PayloadRemovalDisallowed</key>
	<false/>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>{profile_uuid}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
"#
    )
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
<b>SPKI pin (SHA-256):</b> <code id="pin">{pin}</code><br>
<b>Certificate fingerprint (SHA-256):</b> <code id="fingerprint">{fingerprint}</code></p>
<p>Compare both with the proxy's start-up banner (<code>CA:</code> and <code>CA sha256:</code>)
or <code>pin-proxy ca show</code>: if they differ, this page did not come from your proxy.</p>
<h2>Downloads</h2>
<ul id="downloads">
<li><a id="mobileconfig" href="/ca.mobileconfig">pin-proxy-ca.mobileconfig</a>: iOS and iPadOS configuration profile</li>
<li><a id="der" href="/ca.crt">pin-proxy-ca.crt</a>: DER, for Android and Windows</li>
<li><a id="pem" href="/ca.pem">pin-proxy-ca.pem</a>: PEM, for curl, Linux, macOS, Java</li>
</ul>
<h2>iOS and iPadOS</h2>
<ol><li>Open this page in Safari (other browsers cannot install profiles) and tap
<a href="/ca.mobileconfig">pin-proxy-ca.mobileconfig</a>; allow the download.</li>
<li>Settings &gt; General &gt; VPN &amp; Device Management &gt; the downloaded profile &gt;
Install.</li>
<li><b>The step people miss:</b>
Settings &gt; General &gt; About &gt; Certificate Trust Settings &gt; turn on full trust for
the pin-proxy CA. Until then TLS clients do not trust it.</li></ol>
<h2>Android</h2>
<ol><li><b>Android 11 and later install a CA only from Settings</b>, not from the browser: download
<a href="/ca.crt">pin-proxy-ca.crt</a>, then Settings &gt; Security &gt; Encryption &amp;
credentials &gt; Install a certificate &gt; CA certificate, and pick the downloaded file. (Menu
names vary by vendor; search Settings for "CA certificate".)</li>
<li><b>Android 7 (API 24) and later:</b> apps trust user-installed CAs only if their network
security config says so. Debug builds can add this to
<code>res/xml/network_security_config.xml</code>:
<pre id="android-nsc">{nsc}</pre></li>
<li><b>Emulator:</b> the host machine is <code>10.0.2.2</code> from inside the emulator, so the
proxy is <code>10.0.2.2:8080</code> (or start it with
<code>emulator -avd NAME -http-proxy http://127.0.0.1:8080</code>).</li>
<li><b>Apps you cannot rebuild:</b> put the CA in the system store, which every app trusts. On an
emulator with a writable system image (a Google APIs image, not Google Play, started with
<code>-writable-system</code>), <code>pin-proxy device android setup --system</code> does it.
<b>Android 14</b> reads system CAs from the updatable Conscrypt APEX
(<code>/apex/com.android.conscrypt/cacerts</code>), not <code>/system/etc/security/cacerts</code>,
so a certificate copied to <code>/system</code> alone is not trusted there.</li></ol>
<h2>Desktop</h2>
<ul><li>curl: <code>--cacert pin-proxy-ca.pem</code> (or <code>CURL_CA_BUNDLE</code>).</li>
<li>Debian/Ubuntu: copy to <code>/usr/local/share/ca-certificates/pin-proxy.crt</code>, run
<code>update-ca-certificates</code>.</li>
<li>macOS: <code>security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db pin-proxy-ca.pem</code>.</li>
<li>Windows: <code>certutil -user -addstore Root pin-proxy-ca.crt</code>.</li>
<li>Firefox keeps its own store: Settings &gt; Privacy &amp; Security &gt; Certificates &gt; Import.</li>
<li>Java: <code>keytool -importcert -alias pin-proxy -file pin-proxy-ca.pem -cacerts</code>.</li></ul>
<h2>PEM</h2>
<pre id="ca-pem">{pem}</pre>
</body></html>
"#,
        subject = escape(ca.subject()),
        not_after = escape(ca.not_after()),
        pin = escape(ca.pin()),
        fingerprint = escape(ca.fingerprint()),
        nsc = escape(ANDROID_NSC),
        pem = escape(ca.cert_pem()),
    );
    let mut resp = Response::new(full(html));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// Escapes text for HTML and XML (element content and quoted attribute values).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::KeyType;
    use http_body_util::BodyExt as _;

    fn body(resp: Response<Body>) -> (http::HeaderMap, Vec<u8>) {
        let (parts, body) = resp.into_parts();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt.block_on(body.collect()).unwrap().to_bytes();
        (parts.headers, bytes.to_vec())
    }

    fn ca(name: &str) -> CertificateAuthority {
        CertificateAuthority::ephemeral(KeyType::EcdsaP256, name).unwrap()
    }

    #[test]
    fn each_download_has_its_type_and_file_name() {
        let ca = ca("pin-proxy test CA");
        for (path, ty, name) in [
            ("/ca.pem", "application/x-pem-file", "pin-proxy-ca.pem"),
            ("/ca.crt", "application/x-x509-ca-cert", "pin-proxy-ca.crt"),
            ("/ca.der", "application/x-x509-ca-cert", "pin-proxy-ca.crt"),
            (
                "/ca.mobileconfig",
                "application/x-apple-aspen-config",
                "pin-proxy-ca.mobileconfig",
            ),
        ] {
            let (headers, _) = body(respond(&ca, path));
            assert_eq!(headers[header::CONTENT_TYPE], ty, "{path}");
            assert_eq!(
                headers[header::CONTENT_DISPOSITION],
                format!("attachment; filename=\"{name}\"").as_str(),
                "{path}"
            );
        }
        let (headers, _) = body(respond(&ca, "/"));
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    }

    #[test]
    fn nothing_served_holds_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::create(dir.path(), KeyType::EcdsaP256, false).unwrap();
        let key = std::fs::read_to_string(dir.path().join("ca.key")).unwrap();
        let key_b64: String = key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        let key_der = base64::engine::general_purpose::STANDARD
            .decode(&key_b64)
            .unwrap();
        for path in [
            "/",
            "/ca.pem",
            "/ca.crt",
            "/ca.mobileconfig",
            "/ca.key",
            "/x",
        ] {
            let (_, bytes) = body(respond(&ca, path));
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("PRIVATE KEY"), "{path}");
            assert!(!text.contains(&key_b64[..40]), "{path}");
            assert!(
                !bytes.windows(key_der.len()).any(|w| w == key_der),
                "{path}"
            );
        }
    }

    #[test]
    fn the_profile_identifiers_are_stable_per_ca_and_differ_between_cas() {
        let a = ca("pin-proxy a");
        let b = ca("pin-proxy b");
        let ids = profile_uuids(&a);
        assert_eq!(ids, profile_uuids(&a));
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids, profile_uuids(&b));
        for id in &ids {
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{id}"
            );
            assert!(groups[2].starts_with('4'), "{id}");
            assert!("89AB".contains(&groups[3][..1]), "{id}");
        }
        let profile = mobileconfig(&a);
        assert!(profile.contains(&format!("<string>{}</string>", ids[0])));
        assert!(profile.contains(&format!("<string>invalid.pin-proxy.ca.{}</string>", ids[0])));
    }

    #[test]
    fn the_profile_escapes_the_common_name_and_holds_the_der() {
        let ca = ca("pin-proxy <lab> & \"co\"");
        let profile = mobileconfig(&ca);
        assert!(
            profile.contains("pin-proxy CA: pin-proxy &lt;lab&gt; &amp; &quot;co&quot;"),
            "{profile}"
        );
        assert!(!profile.contains("<lab>"));
        let data: String = profile
            .split("<data>")
            .nth(1)
            .and_then(|s| s.split("</data>").next())
            .unwrap()
            .split_whitespace()
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(der, ca.cert_der().as_ref());
    }

    #[test]
    fn the_page_has_the_steps_people_miss_and_the_snippet_escaped() {
        let ca = ca("pin-proxy test CA");
        let (_, bytes) = body(respond(&ca, "/"));
        let html = String::from_utf8(bytes).unwrap();
        for needed in [
            "Settings &gt; General &gt; About &gt; Certificate Trust Settings",
            "Install a certificate &gt; CA certificate",
            "10.0.2.2",
            "pin-proxy device android setup --system",
            "Android 14",
            "APEX",
            "&lt;certificates src=&quot;user&quot;/&gt;",
            ca.pin(),
            ca.fingerprint(),
            "href=\"/ca.mobileconfig\"",
        ] {
            assert!(html.contains(needed), "{needed}");
        }
        assert!(!html.contains("<certificates"));
        // Self-contained: nothing to load from anywhere.
        for external in ["src=\"", "<link", "<script", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }
}
