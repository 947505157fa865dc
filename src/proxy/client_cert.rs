//! Client certificates towards origins (`--client-cert GLOB=CERT,KEY`): the entries, read and
//! checked once at start; the one an origin connection presents (the first entry whose glob
//! matches the host); and, per origin connection, the resolver that presents it when the origin
//! asks and notes that it asked, so that a refusal is told as what it is: no certificate
//! configured for the host, or the configured one refused.
//!
//! rustls calls [`ResolvesClientCert::resolve`] when a CertificateRequest arrives (TLS 1.2 and
//! 1.3 alike) and never otherwise, and does not tell it the server name: so the certificate is
//! chosen here per connection, in `upstream::open`, and the resolver only hands it out.
//! `has_certs` must say whether one is configured: with TLS 1.2, rustls keeps the handshake
//! transcript for the CertificateVerify signature only when it does. Nothing on the handshake
//! path reads a file or parses a certificate. With TLS 1.2 an origin refuses during the
//! handshake; with TLS 1.3 after it (an alert when the response is read), which [`Watched`]
//! notes on the connection's stream for the request that fails.
//!
//! It decides no verdict and makes no response: `upstream` and `pool` word their failures with
//! [`ClientAuth::explain`] and [`ClientAuth::refusal`].

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::rules::HostGlob;

/// One `--client-cert` entry as given: which hosts, and the two files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertSpec {
    /// The hosts it is presented to.
    pub hosts: HostGlob,
    /// The PEM file with the certificate (leaf first, maybe intermediates).
    pub cert: PathBuf,
    /// The PEM file with the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

impl ClientCertSpec {
    /// Parses `GLOB=CERT,KEY`: the glob ends at the first `=`, the two paths are split at the
    /// one comma after it.
    pub fn parse(entry: &str) -> Result<Self, String> {
        const FORM: &str = "expected GLOB=CERT,KEY (a host glob, the certificate's PEM file and \
                            the key's PEM file)";
        let (glob, files) = entry.split_once('=').ok_or(FORM)?;
        let (cert, key) = files.split_once(',').ok_or(FORM)?;
        if key.contains(',') {
            return Err(format!(
                "{FORM}: more than one comma after the '=' (a path with a comma cannot be given)"
            ));
        }
        let (cert, key) = (cert.trim(), key.trim());
        if cert.is_empty() || key.is_empty() {
            return Err(format!("{FORM}: a file name is empty"));
        }
        Ok(Self {
            hosts: HostGlob::parse(glob)?,
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        })
    }
}

/// A loaded `--client-cert` entry: the chain and key rustls presents, checked to belong
/// together, and the certificate's subject to show. Its `Debug` leaves the key out.
#[derive(Clone)]
pub struct ClientCert {
    hosts: HostGlob,
    certified: Arc<CertifiedKey>,
    subject: String,
    cert_path: PathBuf,
    expired: Option<String>,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("hosts", &self.hosts)
            .field("subject", &self.subject)
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl ClientCert {
    /// Reads both files of `spec` and checks them: a certificate in the first, a private key in
    /// the second, and the key the certificate's. Errors name the file; they never quote the
    /// key file's content.
    pub fn load(spec: ClientCertSpec) -> Result<Self, String> {
        let cert_pem = std::fs::read(&spec.cert)
            .map_err(|e| format!("cannot read the certificate {}: {e}", spec.cert.display()))?;
        let chain = crate::pins::pem_certs(&cert_pem)
            .map_err(|e| format!("no certificate in {}: {e}", spec.cert.display()))?;
        let key_pem = std::fs::read(&spec.key)
            .map_err(|e| format!("cannot read the key {}: {e}", spec.key.display()))?;
        let key = private_key(&key_pem, &spec.key)?;
        let leaf = chain
            .first()
            .ok_or_else(|| format!("no certificate in {}", spec.cert.display()))?;
        let (subject, expired) = describe(leaf, &spec.cert)?;
        let leaf = crate::ca::leaf::certified(chain, key)
            .map_err(|e| format!("{} with {}: {e}", spec.cert.display(), spec.key.display()))?;
        Ok(Self {
            hosts: spec.hosts,
            certified: leaf.certified,
            subject,
            cert_path: spec.cert,
            expired,
        })
    }

    /// The hosts it is presented to.
    pub fn hosts(&self) -> &HostGlob {
        &self.hosts
    }

    /// The certificate's subject, e.g. `CN=app client, O=Bank`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The certificate's file.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// When the certificate expired (RFC 3339), if it has: origins will refuse it.
    pub fn expired(&self) -> Option<&str> {
        self.expired.as_deref()
    }

    /// How messages name it: `--client-cert GLOB (SUBJECT)`.
    fn named(&self) -> String {
        format!("--client-cert {} ({})", self.hosts, self.subject)
    }
}

/// The private key in `pem`: the first PKCS#8, PKCS#1 RSA or SEC1 EC block.
fn private_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        // Only the block's label is looked at, never the key.
        Err(_) if contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") => Err(format!(
            "the key in {} is encrypted: write it out unencrypted (openssl pkcs12 ... -nodes, or \
             openssl pkey -in KEY -out KEY.plain) and keep that file mode 0600",
            path.display()
        )),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(format!(
            "no private key in {} (expected a PEM block PRIVATE KEY, RSA PRIVATE KEY or EC \
             PRIVATE KEY)",
            path.display()
        )),
        Err(e) => Err(format!("no usable private key in {}: {e}", path.display())),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The leaf's subject, and when it expired if it has.
fn describe(
    der: &rustls::pki_types::CertificateDer<'_>,
    path: &Path,
) -> Result<(String, Option<String>), String> {
    let (_, x) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        format!(
            "the certificate in {} cannot be parsed: {e}",
            path.display()
        )
    })?;
    let subject = match x.subject().to_string() {
        s if s.is_empty() => "an empty subject".to_string(),
        s => s,
    };
    let not_after = x.validity().not_after.to_datetime();
    let expired =
        (not_after < time::OffsetDateTime::now_utc()).then(|| crate::ca::rfc3339(not_after));
    Ok((subject, expired))
}

/// The `--client-cert` entries, in the order given: the first whose glob matches a host is the
/// one presented to it.
#[derive(Clone, Debug, Default)]
pub struct ClientCerts {
    entries: Vec<Arc<ClientCert>>,
}

impl ClientCerts {
    /// The entries, in the order given.
    pub fn new(entries: Vec<ClientCert>) -> Self {
        Self {
            entries: entries.into_iter().map(Arc::new).collect(),
        }
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> impl Iterator<Item = &ClientCert> {
        self.entries.iter().map(AsRef::as_ref)
    }

    /// The entry for `host`: the first whose glob matches.
    fn for_host(&self, host: &str) -> Option<&Arc<ClientCert>> {
        if self.entries.is_empty() {
            return None;
        }
        let host = crate::rules::unbracket(host);
        self.entries.iter().find(|c| c.hosts.matches(host))
    }

    /// The client authentication of a new origin connection to `host`.
    pub(crate) fn auth_for(&self, host: &str) -> Arc<ClientAuth> {
        Arc::new(ClientAuth {
            cert: self.for_host(host).cloned(),
            asked: AtomicU8::new(NOT_ASKED),
            ended: OnceLock::new(),
        })
    }
}

const NOT_ASKED: u8 = 0;
const ASKED_NONE: u8 = 1;
const ASKED_SENT: u8 = 2;
const ASKED_UNUSABLE: u8 = 3;

/// One origin connection's client authentication: the certificate it may present, whether the
/// origin asked for one (and what was sent), and the alert the origin ended it with afterwards.
#[derive(Debug)]
pub(crate) struct ClientAuth {
    cert: Option<Arc<ClientCert>>,
    asked: AtomicU8,
    /// The alert the origin sent after the handshake, noted by [`Watched`].
    ended: OnceLock<String>,
}

impl ClientAuth {
    /// Whether the origin asked for a client certificate during the handshake.
    pub(crate) fn asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed) != NOT_ASKED
    }

    /// The reason of a failed handshake with the origin (`failure` is how it is worded
    /// otherwise): the client-certificate wording when the origin asked for one and then ended
    /// the handshake with an alert. `None` when the failure has another cause (the proxy's own
    /// verification of the origin, a reset) or the origin never asked.
    pub(crate) fn explain(&self, host: &str, e: &std::io::Error, failure: &str) -> Option<String> {
        if !self.asked() || origin_alert(e).is_none() {
            return None;
        }
        Some(self.wording(host, failure))
    }

    /// After the handshake: the client-certificate wording when the origin asked for one and
    /// has since ended the connection with an alert (TLS 1.3's certificate_required, or a
    /// refusal of the certificate sent). The connection is dead then; another would end the same.
    pub(crate) fn refusal(&self, host: &str) -> Option<String> {
        let alert = self.ended.get()?;
        Some(self.wording(
            host,
            &format!("the origin ended the connection after the handshake: {alert}"),
        ))
    }

    fn wording(&self, host: &str, detail: &str) -> String {
        match (self.asked.load(Ordering::Relaxed), &self.cert) {
            (ASKED_SENT, Some(cert)) => format!(
                "the origin refused the configured client certificate for {host}, {} \
                 ({detail})",
                cert.named()
            ),
            (ASKED_UNUSABLE, Some(cert)) => format!(
                "the origin asked for a client certificate and the one configured for {host}, \
                 {}, has no signature scheme the origin accepts, so none was sent ({detail})",
                cert.named()
            ),
            _ => format!(
                "the origin asked for a client certificate and none is configured for {host}: \
                 give --client-cert '{host}=CERT,KEY' ({detail})"
            ),
        }
    }

    /// Notes an error read from the connection's stream after the handshake: an alert from the
    /// origin, the first one only.
    fn note_end(&self, e: &std::io::Error) {
        if let Some(alert) = origin_alert(e) {
            let _ = self.ended.set(alert.to_string());
        }
    }
}

impl ResolvesClientCert for ClientAuth {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let Some(cert) = &self.cert else {
            self.asked.store(ASKED_NONE, Ordering::Relaxed);
            return None;
        };
        // rustls sends an empty Certificate when the key has no scheme the origin accepts: say
        // that, not "refused".
        if cert.certified.key.choose_scheme(sigschemes).is_none() {
            self.asked.store(ASKED_UNUSABLE, Ordering::Relaxed);
            return None;
        }
        self.asked.store(ASKED_SENT, Ordering::Relaxed);
        Some(cert.certified.clone())
    }

    fn has_certs(&self) -> bool {
        self.cert.is_some()
    }
}

/// The alert an origin ended a TLS stream with (`close_notify` aside), from tokio-rustls' error.
fn origin_alert(e: &std::io::Error) -> Option<&rustls::Error> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    match tls {
        rustls::Error::AlertReceived(rustls::AlertDescription::CloseNotify) => None,
        rustls::Error::AlertReceived(_) => Some(tls),
        _ => None,
    }
}

/// An origin connection's stream whose origin asked for a client certificate: the alert it is
/// ended with is noted in its [`ClientAuth`], so that a request that fails on it (an HTTP client
/// sees only "connection closed" or a broken pipe) is told why.
///
/// An origin that refused and hung up can make a write fail (a broken pipe) while its alert
/// still waits, unread, in the socket. Such a write error is held back until the stream has
/// been read to its end (the socket is readable then: it has data, an error or its close), so
/// that the alert is noted first; the connection is dead either way.
pub(crate) struct Watched<T> {
    io: T,
    auth: Arc<ClientAuth>,
    /// A write error held back while what the origin sent before it is read.
    broke: Option<std::io::Error>,
    /// Bytes read and dropped after a write error: past [`MOST_DRAINED`] the error is given
    /// back without waiting for the end.
    drained: usize,
}

/// The most a broken stream is read for the origin's alert (an alert is a few bytes; a peer
/// that keeps sending is not waited for).
const MOST_DRAINED: usize = 256 * 1024;

impl<T> Watched<T> {
    pub(crate) fn new(io: T, auth: Arc<ClientAuth>) -> Self {
        Self {
            io,
            auth,
            broke: None,
            drained: 0,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Watched<T> {
    /// A write-side call: the held error first, if there is one; a new error is held back
    /// unless it is itself the origin's alert.
    fn write_side<R>(
        &mut self,
        cx: &mut Context<'_>,
        call: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>> {
        if self.broke.is_some() {
            return self.drain(cx).map(Err);
        }
        match call(Pin::new(&mut self.io), cx) {
            Poll::Ready(Err(e)) => {
                self.auth.note_end(&e);
                if self.auth.ended.get().is_some() {
                    return Poll::Ready(Err(e));
                }
                self.broke = Some(e);
                self.drain(cx).map(Err)
            }
            other => other,
        }
    }

    /// Reads (and drops) what is left on a broken stream until its end (at most
    /// [`MOST_DRAINED`] bytes), noting an alert on the way, then gives the held write error back.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let mut scratch = [0u8; 1024];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) if !buf.filled().is_empty() && self.drained < MOST_DRAINED => {
                    self.drained += buf.filled().len();
                }
                Poll::Ready(end) => {
                    if let Err(e) = end {
                        self.auth.note_end(&e);
                    }
                    let broke = self.broke.take();
                    return Poll::Ready(broke.unwrap_or_else(|| {
                        std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe")
                    }));
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &polled {
            this.auth.note_end(e);
        }
        polled
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_side(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.write_side(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.write_side(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.write_side(cx, |io, cx| io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_a_glob_and_two_files() {
        let spec = ClientCertSpec::parse("*.Bank.example= client.pem , client.key").unwrap();
        assert_eq!(spec.hosts.as_str(), "*.bank.example");
        assert_eq!(spec.cert, PathBuf::from("client.pem"));
        assert_eq!(spec.key, PathBuf::from("client.key"));
        // A path may hold '=' (the glob ends at the first one).
        let spec = ClientCertSpec::parse("api.test=dir=a/c.pem,k.pem").unwrap();
        assert_eq!(spec.cert, PathBuf::from("dir=a/c.pem"));
    }

    #[test]
    fn malformed_entries_say_what_is_expected() {
        for (entry, says) in [
            ("api.test", "expected GLOB=CERT,KEY"),
            ("api.test=client.pem", "expected GLOB=CERT,KEY"),
            ("api.test=a.pem,b.key,c.key", "more than one comma"),
            ("api.test=,b.key", "a file name is empty"),
            ("api.test=a.pem, ", "a file name is empty"),
            ("=a.pem,b.key", "empty host pattern"),
            ("api/test=a.pem,b.key", "bad host pattern"),
        ] {
            let e = ClientCertSpec::parse(entry).unwrap_err();
            assert!(e.contains(says), "{entry:?}: {e}");
        }
    }

    fn generated(dir: &Path, name: &str) -> (PathBuf, PathBuf, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k, key)
    }

    fn spec(glob: &str, cert: &Path, key: &Path) -> ClientCertSpec {
        ClientCertSpec {
            hosts: HostGlob::parse(glob).unwrap(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }
    }

    #[test]
    fn files_are_checked_and_the_errors_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = generated(dir.path(), "one");
        let (_, other_key, _) = generated(dir.path(), "two");
        let loaded = ClientCert::load(spec("api.test", &cert, &key)).unwrap();
        assert_eq!(loaded.subject(), "CN=one");
        assert_eq!(loaded.expired(), None);
        let shown = format!("{loaded:?}");
        assert!(
            shown.contains("CN=one") && !shown.contains("certified"),
            "{shown}"
        );

        let missing = dir.path().join("missing.pem");
        let e = ClientCert::load(spec("api.test", &missing, &key)).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "cannot read the certificate {}",
                missing.display()
            )),
            "{e}"
        );
        let e = ClientCert::load(spec("api.test", &key, &key)).unwrap_err();
        assert!(
            e.starts_with(&format!("no certificate in {}", key.display())),
            "{e}"
        );
        let e = ClientCert::load(spec("api.test", &cert, &cert)).unwrap_err();
        assert!(
            e.starts_with(&format!("no private key in {}", cert.display())),
            "{e}"
        );
        let e = ClientCert::load(spec("api.test", &cert, &other_key)).unwrap_err();
        assert!(
            e.contains("the key does not belong to the certificate"),
            "{e}"
        );
        // Never a byte of the key in a message.
        let key_text = std::fs::read_to_string(&other_key).unwrap();
        let body = key_text.lines().nth(1).unwrap();
        assert!(!e.contains(body), "{e}");

        let encrypted = dir.path().join("enc.key");
        std::fs::write(
            &encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = ClientCert::load(spec("api.test", &cert, &encrypted)).unwrap_err();
        assert!(e.contains("is encrypted"), "{e}");
    }

    #[test]
    fn an_expired_certificate_says_when() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 2);
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (dir.path().join("old.pem"), dir.path().join("old.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        let loaded = ClientCert::load(spec("api.test", &c, &k)).unwrap();
        assert_eq!(loaded.expired(), Some("2021-01-02T00:00:00Z"));
    }

    #[test]
    fn the_first_matching_entry_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (a, ak, _) = generated(dir.path(), "wide");
        let (b, bk, _) = generated(dir.path(), "exact");
        let certs = ClientCerts::new(vec![
            ClientCert::load(spec("*.bank.test", &a, &ak)).unwrap(),
            ClientCert::load(spec("api.bank.test", &b, &bk)).unwrap(),
        ]);
        let subject = |host: &str| certs.for_host(host).map(|c| c.subject().to_string());
        assert_eq!(subject("api.bank.test").as_deref(), Some("CN=wide"));
        assert_eq!(subject("API.bank.test").as_deref(), Some("CN=wide"));
        assert_eq!(subject("bank.test"), None);
        let auth = certs.auth_for("other.test");
        assert!(!auth.has_certs());
        assert!(certs.auth_for("x.bank.test").has_certs());
    }

    #[test]
    fn the_resolver_notes_the_request_and_the_wording_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k, _) = generated(dir.path(), "app");
        let certs = ClientCerts::new(vec![ClientCert::load(spec("api.test", &c, &k)).unwrap()]);
        let alert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        let ours = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );

        let none = certs.auth_for("other.test");
        assert!(
            none.explain("other.test", &alert, "x").is_none(),
            "not asked"
        );
        assert!(none
            .resolve(&[], &[SignatureScheme::ECDSA_NISTP256_SHA256])
            .is_none());
        assert!(none.asked());
        assert_eq!(
            none.explain("other.test", &alert, "TLS failed").as_deref(),
            Some(
                "the origin asked for a client certificate and none is configured for \
                 other.test: give --client-cert 'other.test=CERT,KEY' (TLS failed)"
            )
        );
        // The proxy's own refusal of the origin is not the origin's refusal.
        assert!(none.explain("other.test", &ours, "x").is_none());

        let sent = certs.auth_for("api.test");
        let given = sent.resolve(&[], &[SignatureScheme::ECDSA_NISTP256_SHA256]);
        assert!(given.is_some());
        assert!(sent.refusal("api.test").is_none(), "no alert yet");
        sent.note_end(&alert);
        assert_eq!(
            sent.refusal("api.test").as_deref(),
            Some(
                "the origin refused the configured client certificate for api.test, \
                 --client-cert api.test (CN=app) (the origin ended the connection after the \
                 handshake: received fatal alert: CertificateRequired)"
            )
        );

        let unusable = certs.auth_for("api.test");
        assert!(unusable
            .resolve(&[], &[SignatureScheme::RSA_PSS_SHA256])
            .is_none());
        let text = unusable.explain("api.test", &alert, "x").unwrap();
        assert!(
            text.contains("has no signature scheme the origin accepts"),
            "{text}"
        );
    }
}
