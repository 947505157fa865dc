//! The chain a live host presents (`pins show --connect`, `pins check --connect`): connect
//! directly or through an HTTP proxy's CONNECT, handshake with the path-keeping verifier, keep
//! what was sent and what trust evaluation said, then close_notify before any request byte. An
//! untrusted chain is an answer here, not an error.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt as _;

use super::{tls_handshake, ProxySpec, Target};
use crate::trust::{CertInfo, PathVerifier, Roots, TrustFailure};

/// What to connect to.
#[derive(Debug)]
pub struct ChainRequest {
    /// `host` and `port` to connect to.
    pub target: Target,
    /// The server name to send and check (the host unless `--sni`).
    pub sni: String,
    /// Through this proxy, or direct.
    pub proxy: Option<ProxySpec>,
    /// The trusted roots.
    pub roots: Arc<Roots>,
    /// Limit on TCP, CONNECT and the handshake.
    pub timeout: Duration,
}

/// What the host presented.
#[derive(Debug)]
pub struct LiveChain {
    /// The certificates as sent, in the server's order.
    pub sent: Vec<CertificateDer<'static>>,
    /// The verified path (leaf first, anchor last) or why trust evaluation refused it.
    pub path: Result<Vec<CertInfo>, TrustFailure>,
    /// The negotiated TLS version, when the handshake completed.
    pub tls_version: Option<String>,
}

/// Connects and returns the presented chain. `Err` is a network error's words (nothing was
/// presented: TCP, the proxy or the handshake failed before a certificate arrived).
pub async fn fetch(req: &ChainRequest) -> Result<LiveChain, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PathVerifier::new(req.roots.clone(), provider.clone()));
    let name = ServerName::try_from(req.sni.clone())
        .map_err(|e| format!("{:?} cannot be a TLS server name: {e}", req.sni))?;
    let handshake = tls_handshake(
        req.proxy.as_ref(),
        &[],
        &req.target,
        name,
        (provider, verifier.clone()),
        req.timeout,
    )
    .await?;
    let seen = verifier.seen();
    let Some(path) = seen.path else {
        return Err(match handshake {
            Err(e) => format!(
                "TLS handshake with {} failed before a certificate arrived: {e}",
                req.target.authority
            ),
            Ok(_) => format!("{} sent no certificate", req.target.authority),
        });
    };
    let tls_version = match handshake {
        Ok(mut tls) => {
            let version = tls
                .get_ref()
                .1
                .protocol_version()
                .map(crate::tls::version_name);
            let _ = tls.shutdown().await;
            version
        }
        // Trust evaluation refused the chain (we sent the alert): the chain is still the answer.
        Err(_) => None,
    };
    Ok(LiveChain {
        sent: seen.sent_der,
        path,
        tls_version,
    })
}
