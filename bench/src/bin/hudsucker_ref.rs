//! The reference proxy for the benchmark: a minimal intercepting proxy on hudsucker 0.25.
//!
//! - A CA generated at start (written to `--ca-out`); like hudsucker's own `RcgenAuthority`, leaves
//!   are signed by the CA and use the CA's key, cached per host. The one difference: a host that is
//!   an IP address gets an IP SAN (RcgenAuthority only writes DNS SANs, which a client verifying
//!   `127.0.0.1` as an IP address rejects).
//! - Upstream TLS trusts only `--upstream-ca`; hyper-util's legacy client keeps its connection pool
//!   (on by default). TCP_NODELAY on accepted sockets (inherited from the listener) and on upstream
//!   sockets (the HTTP connector's option, and the passthrough relay's socket).
//! - `--passthrough` answers every CONNECT with 200 and relays the bytes without intercepting.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use clap::Parser;
use http::uri::Authority;
use hudsucker::{
    certificate_authority::CertificateAuthority,
    hyper::{Method, Request, Response},
    hyper_util::{
        client::legacy::{connect::HttpConnector, Client},
        rt::{TokioExecutor, TokioIo},
    },
    Body, HttpContext, HttpHandler, Proxy, RequestOrResponse,
};
use pin_proxy_bench::{leaf_params, listen, load_roots, new_ca, provider, KeyType};
use rcgen::{Issuer, KeyPair};
use rustls::{
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    ClientConfig, ServerConfig,
};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where to write the generated CA certificate (PEM).
    #[arg(long)]
    ca_out: PathBuf,
    /// Key algorithm of the CA, and so of the leaves (hudsucker signs leaves with the CA's key).
    #[arg(long, value_enum, default_value = "ecdsa")]
    key_type: KeyType,
    /// Root certificates (PEM) to trust for upstream TLS.
    #[arg(long)]
    upstream_ca: PathBuf,
    /// Relay every CONNECT untouched instead of intercepting.
    #[arg(long)]
    passthrough: bool,
}

/// Leaves signed by the CA with the CA's key, one ServerConfig per host, as hudsucker's RcgenAuthority.
struct LeafAuthority {
    issuer: Issuer<'static, KeyPair>,
    key: PrivateKeyDer<'static>,
    cache: Mutex<HashMap<Authority, Arc<ServerConfig>>>,
}

impl CertificateAuthority for LeafAuthority {
    async fn gen_server_config(&self, authority: &Authority) -> Arc<ServerConfig> {
        if let Some(config) = self.cache.lock().unwrap().get(authority) {
            return config.clone();
        }
        let leaf = leaf_params(authority.host())
            .signed_by(self.issuer.key(), &self.issuer)
            .expect("leaf");
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], self.key.clone_key())
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        self.cache
            .lock()
            .unwrap()
            .insert(authority.clone(), config.clone());
        config
    }
}

#[derive(Clone)]
struct Handler {
    passthrough: bool,
}

impl HttpHandler for Handler {
    async fn handle_request(
        &mut self,
        _ctx: &HttpContext,
        mut req: Request<Body>,
    ) -> RequestOrResponse {
        if !self.passthrough || req.method() != Method::CONNECT {
            return req.into();
        }
        let Some(target) = req.uri().authority().map(|a| a.to_string()) else {
            return req.into();
        };
        let upgrade = hudsucker::hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let Ok(mut server) = TcpStream::connect(target).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut server).await;
        });
        Response::new(Body::empty()).into()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let ca_key = args.key_type.generate();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca_key.serialize_der()));
    let (issuer, ca_pem) = new_ca("hudsucker-ref bench CA", ca_key);
    std::fs::write(&args.ca_out, ca_pem)?;
    let authority = LeafAuthority {
        issuer,
        key,
        cache: Mutex::default(),
    };

    let tls = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(load_roots(&args.upstream_ca)?)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    // hudsucker's default client settings; the pool is on by default.
    let mut client = Client::builder(TokioExecutor::new());
    client
        .http1_title_case_headers(true)
        .http1_preserve_header_case(true);

    let listener = listen(args.listen)?;
    println!("listening {}", listener.local_addr()?);
    let proxy = Proxy::builder()
        .with_listener(listener)
        .with_ca(authority)
        .with_http_connector(https)
        .with_client(client)
        .with_http_handler(Handler {
            passthrough: args.passthrough,
        })
        .build()?;
    proxy.start().await?;
    Ok(())
}
