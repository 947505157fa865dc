#!/usr/bin/env python3
"""Client under test: a "fail closed" pinning client, standard library only (Python 3.11).

Emulates an app (like the URLSession delegate of an iOS app that only talks to hosts it pins)
which, after a verified TLS handshake through an HTTP CONNECT proxy, checks the SHA-256 SPKI pin
of the LEAF certificate only (Python 3.11 exposes no chain) before it sends any request. A host
for which the app has no pins is refused.

Environment (set by the scenario runner):
  PIN_PROXY_PROXY         127.0.0.1:PORT of the CONNECT proxy
  PIN_PROXY_URL           https://HOST/path to fetch through the tunnel
  PIN_PROXY_HOST          host name to CONNECT to and verify (also SNI and Host header)
  PIN_PROXY_PORT          origin port (443)
  PIN_PROXY_TRUST_BUNDLE  PEM file with the CA certificates to trust
  PIN_PROXY_PINS          comma-separated base64 SHA-256 SPKI pins (empty = no pins at all)
  PIN_PROXY_PINNED_HOST   host the pins belong to (empty when there are no pins)

Exit codes: 0 response received, 90 pin check refused the connection (nothing was sent),
60 certificate not trusted, 1 any other error.
"""
import base64
import hashlib
import http.client
import os
import ssl
import sys
import urllib.parse


def der_element(data, pos):
    """Return (start, content_start, end) of the DER element at pos; raise ValueError if malformed."""
    if pos + 2 > len(data) or data[pos] & 0x1F == 0x1F:
        raise ValueError("truncated element or unsupported tag")
    n = data[pos + 1]
    body = pos + 2
    if n & 0x80:
        count = n & 0x7F
        if count == 0 or count > 4 or body + count > len(data):
            raise ValueError("bad length")
        n = int.from_bytes(data[body:body + count], "big")
        body += count
    if body + n > len(data):
        raise ValueError("element overruns its parent")
    return pos, body, body + n


def spki_of(cert_der):
    """The full TLV bytes of subjectPublicKeyInfo inside an X.509 certificate."""
    _, cert_body, _ = der_element(cert_der, 0)        # Certificate SEQUENCE
    _, pos, tbs_end = der_element(cert_der, cert_body)  # tbsCertificate SEQUENCE
    if cert_der[pos] == 0xA0:                         # optional [0] EXPLICIT version
        pos = der_element(cert_der, pos)[2]
    for _ in range(5):                                # serial, signature, issuer, validity, subject
        pos = der_element(cert_der, pos)[2]
    start, _, end = der_element(cert_der, pos)
    if cert_der[start] != 0x30 or end > tbs_end:
        raise ValueError("subjectPublicKeyInfo is not a SEQUENCE inside tbsCertificate")
    return cert_der[start:end]


def fail(code, message):
    print(f"python client: {message}", file=sys.stderr)
    sys.exit(code)


def main():
    env = os.environ
    proxy_host, _, proxy_port = env["PIN_PROXY_PROXY"].rpartition(":")
    host, port = env["PIN_PROXY_HOST"], int(env.get("PIN_PROXY_PORT") or 443)
    url = urllib.parse.urlsplit(env["PIN_PROXY_URL"])
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    pins = [p.strip() for p in env.get("PIN_PROXY_PINS", "").split(",") if p.strip()]
    pinned_host = env.get("PIN_PROXY_PINNED_HOST", "")

    ctx = ssl.create_default_context(cafile=env["PIN_PROXY_TRUST_BUNDLE"])
    conn = http.client.HTTPSConnection(proxy_host, int(proxy_port), context=ctx, timeout=15)
    conn.set_tunnel(host, port)
    try:
        conn.connect()
        if pins:
            if pinned_host != host:
                conn.close()
                fail(90, f"pin mismatch for {host}: no pins for {host} (pins are for {pinned_host})")
            try:
                presented = base64.b64encode(
                    hashlib.sha256(spki_of(conn.sock.getpeercert(binary_form=True))).digest()
                ).decode()
            except (ValueError, IndexError) as e:
                conn.close()
                fail(90, f"pin check failed for {host}: cannot parse leaf certificate: {e}")
            if presented not in pins:
                conn.close()
                fail(90, f"pin mismatch for {host}: presented sha256/{presented}, "
                         f"pinned {', '.join('sha256/' + p for p in pins)}")
        conn.request("GET", path, headers={"Host": host, "Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        print(f"HTTP/{resp.version / 10:.1f} {resp.status} {resp.reason}")
    except ssl.SSLCertVerificationError as e:
        fail(60, f"certificate not trusted for {host}: {e.verify_message or e.reason}")
    except (OSError, http.client.HTTPException) as e:
        fail(1, f"request to {host} via {proxy_host}:{proxy_port} failed: {e or type(e).__name__}")
    finally:
        conn.close()


if __name__ == "__main__":
    main()
