// Client under test: an OkHttp-CertificatePinner-style pinning client, Node.js 20 built-ins only.
//
// Emulates OkHttp's CertificatePinner: pins are scoped by host and apply only to the host they
// were configured for; a host with no pins is allowed ("fail open"). After a verified TLS
// handshake through an HTTP CONNECT proxy, and before any request is written, a pin matches if
// ANY certificate of the verified chain has that SHA-256 SPKI pin.
//
// Environment (set by the scenario runner):
//   PIN_PROXY_PROXY         127.0.0.1:PORT of the CONNECT proxy
//   PIN_PROXY_URL           https://HOST/path to fetch through the tunnel
//   PIN_PROXY_HOST          host name to CONNECT to and verify (also SNI and Host header)
//   PIN_PROXY_PORT          origin port (443)
//   PIN_PROXY_TRUST_BUNDLE  PEM file with the CA certificates to trust
//   PIN_PROXY_PINS          comma-separated base64 SHA-256 SPKI pins (empty = no pins at all)
//   PIN_PROXY_PINNED_HOST   host the pins belong to (empty when there are no pins)
//
// Exit codes: 0 response received, 90 pin check refused the connection (nothing was sent),
// 60 certificate not trusted, 1 any other error.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';

const env = process.env;
const sep = env.PIN_PROXY_PROXY.lastIndexOf(':');
const [proxyHost, proxyPort] = [env.PIN_PROXY_PROXY.slice(0, sep), Number(env.PIN_PROXY_PROXY.slice(sep + 1))];
const host = env.PIN_PROXY_HOST;
const port = Number(env.PIN_PROXY_PORT || 443);
const url = new URL(env.PIN_PROXY_URL);
const path = (url.pathname || '/') + url.search;
const pins = (env.PIN_PROXY_PINS || '').split(',').map((p) => p.trim()).filter(Boolean);
const hostPins = env.PIN_PROXY_PINNED_HOST === host ? pins : [];

// Errors that mean "the certificate was not trusted" (OpenSSL verify codes as Node reports them).
const CERT_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH', 'CERT_REVOKED', 'INVALID_PURPOSE', 'PATH_LENGTH_EXCEEDED',
]);

function fail(code, message) {
  process.stderr.write(`node client: ${message}\n`);
  process.exit(code);
}

function failFor(err) {
  const code = err.code || err.message;
  if (CERT_ERRORS.has(code)) fail(60, `certificate not trusted for ${host}: ${code}`);
  fail(1, `request to ${host} via ${env.PIN_PROXY_PROXY} failed: ${err.message || code}`);
}

const spkiPin = (raw) => crypto.createHash('sha256')
  .update(new crypto.X509Certificate(raw).publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');

// Pins of every certificate Node reports for the peer: leaf first, then each issuer, until the
// chain points back at itself (a self-signed root) or ends.
function chainPins(socket) {
  const out = [];
  for (let cert = socket.getPeerCertificate(true), seen = new Set(); cert && cert.raw;) {
    if (seen.has(cert)) break;
    seen.add(cert);
    out.push(spkiPin(cert.raw));
    if (cert.issuerCertificate === cert) break;
    cert = cert.issuerCertificate;
  }
  return out;
}

setTimeout(() => fail(1, `timed out after 15 s talking to ${host}`), 15000).unref();

const connectReq = http.request({ host: proxyHost, port: proxyPort, method: 'CONNECT', path: `${host}:${port}` });
connectReq.on('error', failFor);
connectReq.on('connect', (res, tunnel) => {
  if (res.statusCode !== 200) fail(1, `proxy answered CONNECT ${host}:${port} with ${res.statusCode}`);
  const socket = tls.connect({
    socket: tunnel, servername: host, ca: fs.readFileSync(env.PIN_PROXY_TRUST_BUNDLE), ALPNProtocols: ['http/1.1'],
  });
  socket.on('error', failFor);
  socket.on('secureConnect', () => {
    if (!socket.authorized) fail(60, `certificate not trusted for ${host}: ${socket.authorizationError}`);
    if (hostPins.length) {
      const chain = chainPins(socket);
      if (!chain.some((p) => hostPins.includes(p))) {
        const fmt = (list) => list.map((p) => `sha256/${p}`).join(', ');
        // Close on the next turn: 'secureConnect' fires before Node has flushed our TLS 1.3
        // Finished, and destroying synchronously would drop it, so the proxy would see an
        // unfinished handshake instead of a completed one that the client then closed (as OkHttp does).
        setImmediate(() => {
          socket.destroy();
          fail(90, `certificate pinning failure for ${host}: chain ${fmt(chain)}, pinned ${fmt(hostPins)}`);
        });
        return;
      }
    }
    let response = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => { response += chunk; });
    socket.on('end', () => {
      const status = response.split('\r\n', 1)[0];
      if (!status.startsWith('HTTP/')) fail(1, `no HTTP response from ${host}`);
      process.stdout.write(`${status}\n`);
      process.exit(0);
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
});
connectReq.end();
