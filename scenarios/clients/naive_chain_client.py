#!/usr/bin/env python3
"""Client under test: a DELIBERATELY NAIVE chain-pinning client (pyOpenSSL), the bug of CVE-2016-2402.

After a verified TLS handshake through an HTTP CONNECT proxy, it checks its SHA-256 SPKI pins
against every certificate the server SENT (pyOpenSSL's get_peer_cert_chain()), not against the
path that trust evaluation verified. That is the mistake OkHttp made before its
CertificateChainCleaner, and that hand-written X509TrustManagers, Go VerifyPeerCertificate
callbacks reading rawCerts and iOS delegates iterating SecTrustGetCertificateAtIndex without
evaluating first can still make: a forging proxy that sends the real server's intermediate
after its own CA gets through. Do not copy it into an app; scenarios/naive-chain.toml shows
pin-proxy's smuggle-chain profile catching it.

Environment (set by the scenario runner):
  PIN_PROXY_PROXY         127.0.0.1:PORT of the CONNECT proxy
  PIN_PROXY_URL           https://HOST/path to fetch through the tunnel
  PIN_PROXY_HOST          host name to CONNECT to and verify (also SNI and Host header)
  PIN_PROXY_PORT          origin port (443)
  PIN_PROXY_TRUST_BUNDLE  PEM file with the CA certificates to trust
  PIN_PROXY_PINS          comma-separated base64 SHA-256 SPKI pins (empty = no pins at all)
  PIN_PROXY_PINNED_HOST   host the pins belong to (empty when there are no pins)

Exit codes: 0 response received, 90 pin check refused the connection (nothing was sent),
60 certificate not trusted, 1 any other error (pyOpenSSL missing included).
"""
import base64
import hashlib
import os
import socket
import sys
import urllib.parse

try:
    from cryptography import x509
    from OpenSSL import SSL, crypto
except ImportError:
    print("naive chain client: needs pyOpenSSL (Debian: apt-get install python3-openssl; "
          "else python3 -m pip install pyOpenSSL)", file=sys.stderr)
    sys.exit(1)


def fail(code, message):
    print(f"naive chain client: {message}", file=sys.stderr)
    sys.exit(code)


def connect_tunnel(proxy_host, proxy_port, host, port):
    """A TCP socket through the proxy's CONNECT tunnel to host:port."""
    sock = socket.create_connection((proxy_host, proxy_port), timeout=15)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk or len(head) > 65536:
            fail(1, f"the proxy at {proxy_host}:{proxy_port} closed or sent no CONNECT answer")
        head += chunk
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200" not in status:
        fail(1, f"CONNECT {host}:{port} refused: {status}")
    # pyOpenSSL wants a blocking socket (with a timeout it raises WantReadError); the scenario
    # runner's timeout bounds the whole client.
    sock.settimeout(None)
    return sock


def pin_of(cert):
    spki = crypto.dump_publickey(crypto.FILETYPE_ASN1, cert.get_pubkey())
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def main():
    env = os.environ
    proxy_host, _, proxy_port = env["PIN_PROXY_PROXY"].rpartition(":")
    host, port = env["PIN_PROXY_HOST"], int(env.get("PIN_PROXY_PORT") or 443)
    url = urllib.parse.urlsplit(env["PIN_PROXY_URL"])
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    pins = [p.strip() for p in env.get("PIN_PROXY_PINS", "").split(",") if p.strip()]
    pinned_host = env.get("PIN_PROXY_PINNED_HOST", "")

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.load_verify_locations(env["PIN_PROXY_TRUST_BUNDLE"])
    ctx.set_verify(SSL.VERIFY_PEER, lambda _conn, _cert, _errno, _depth, ok: bool(ok))
    ctx.set_alpn_protos([b"http/1.1"])
    sock = connect_tunnel(proxy_host, int(proxy_port), host, port)
    tls = SSL.Connection(ctx, sock)
    tls.set_tlsext_host_name(host.encode())
    tls.set_connect_state()
    try:
        tls.do_handshake()
    except SSL.Error as e:
        fail(60, f"certificate not trusted for {host} (or the handshake failed): {e!r}")
    # OpenSSL checks the chain against the trust store, not the name: do that here.
    leaf = tls.get_peer_certificate()
    try:
        san = leaf.to_cryptography().extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if host not in names:
        fail(60, f"certificate not valid for {host} (names: {', '.join(names)})")
    if pins:
        if pinned_host != host:
            tls.shutdown()
            fail(90, f"pin mismatch for {host}: no pins for {host} (pins are for {pinned_host})")
        # THE BUG: the certificates sent, not the verified path.
        sent = [pin_of(c) for c in tls.get_peer_cert_chain() or []]
        matched = [p for p in sent if p in pins]
        if not matched:
            tls.shutdown()
            fail(90, f"pin mismatch for {host}: sent {', '.join('sha256/' + p for p in sent)}")
        print(f"naive chain client: pin sha256/{matched[0]} found among the "
              f"{len(sent)} certificates sent", file=sys.stderr)
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    response = b""
    while len(response) < 1 << 20:
        try:
            chunk = tls.recv(65536)
        except (SSL.ZeroReturnError, SSL.SysCallError):
            break
        if not chunk:
            break
        response += chunk
    status = response.split(b"\r\n", 1)[0].decode("latin-1")
    if not status.startswith("HTTP/"):
        fail(1, f"no HTTP response from {host}")
    print(status)
    tls.close()


if __name__ == "__main__":
    main()
