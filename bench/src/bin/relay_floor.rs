//! The floor for passthrough: the least a user-space CONNECT relay can do. One thread, no
//! verdicts, no logging, no TLS: read the CONNECT head, connect, answer 200, then copy bytes both
//! ways (TCP_NODELAY on both sockets). The benchmark measures it beside the real proxies to show
//! how much of the passthrough gap to the direct baseline any relay on this machine pays.

use std::net::SocketAddr;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0 picks one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// The longest CONNECT head read.
const MAX_HEAD: usize = 4096;

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(args.listen).await?;
        println!("relay-floor listening on {}", listener.local_addr()?);
        loop {
            let (client, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = relay(client).await;
            });
        }
    })
}

async fn relay(mut client: TcpStream) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    };
    let line = String::from_utf8_lossy(&head);
    let Some(target) = line
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
    else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await?;
        return Ok(());
    };
    let mut origin = TcpStream::connect(target).await?;
    origin.set_nodelay(true)?;
    client.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await?;
    // Bytes the client sent after the head (its ClientHello, if it did not wait) go on first.
    origin.write_all(&head[end..]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut origin).await?;
    Ok(())
}
