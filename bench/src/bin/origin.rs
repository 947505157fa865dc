//! The benchmark's HTTPS origin: HTTP/1.1 with keep-alive on 127.0.0.1, answering every request with
//! a small fixed body. Its certificate has an IP SAN for the listen address (and a DNS SAN for
//! each `--name`) and is signed by a root generated at start, written to `--root-out` for the
//! clients and proxies to trust.

use std::{convert::Infallible, net::SocketAddr, path::PathBuf, sync::Arc};

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::{service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use pin_proxy_bench::{leaf_params, listen, new_ca, provider, KeyType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

const BODY: &[u8] = b"hello from the benchmark origin\n";

#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0 picks one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the root certificate (PEM) that signed the origin's certificate.
    #[arg(long)]
    root_out: PathBuf,
    /// Also a DNS name in the certificate (for clients and proxies that verify a name). Repeatable.
    #[arg(long)]
    name: Vec<String>,
    /// Key algorithm of the origin's root and leaf.
    #[arg(long, value_enum, default_value = "ecdsa")]
    key_type: KeyType,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let (root, root_pem) = new_ca("pin-proxy bench origin root", args.key_type.generate());
    let leaf_key = args.key_type.generate();
    let mut params = leaf_params(&args.listen.ip().to_string());
    for name in &args.name {
        let name = name.clone().try_into().map_err(std::io::Error::other)?;
        params.subject_alt_names.push(rcgen::SanType::DnsName(name));
    }
    let leaf = params.signed_by(&leaf_key, &root).expect("origin leaf");
    std::fs::write(&args.root_out, root_pem)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let listener = listen(args.listen)?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // e.g. EMFILE: back off, keep serving the connections we have
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
