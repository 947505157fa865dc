#!/usr/bin/env python3
"""Writes a logcat (threadtime) of about SIZE megabytes with pinning failures scattered through it,
for bench/logs.sh: ordinary app noise, and every FAILURE_EVERY lines one of an OkHttp pinning block,
an NSC trust-anchor trace, a curl -v failure and a urllib3 retry line. Deterministic (seeded).

Usage: gen_logcat.py OUT SIZE_MB [FAILURE_EVERY]
"""
import random
import sys

out, size_mb = sys.argv[1], float(sys.argv[2])
every = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
rng = random.Random(1)
tags = ["ActivityManager", "OkHttp", "chromium", "SyncWorker", "System.out", "Choreographer", "art", "Glide"]
words = "the a request response cache view layout frame update sync token user session image load done".split()
b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def pin():
    return "".join(rng.choice(b64) for _ in range(43)) + "="


def prefix(i, tag, level="I"):
    ms = i % 1000
    s = (i // 1000) % 60
    return f"12-01 10:{(i // 60000) % 60:02d}:{s:02d}.{ms:03d}  {1000 + i % 97}  {2000 + i % 89} {level} {tag}: "


blocks = [
    lambda host, p: [
        "javax.net.ssl.SSLPeerUnverifiedException: Certificate pinning failure!",
        "  Peer certificate chain:",
        f"    sha256/{p[0]}: CN={host}",
        f"    sha256/{p[1]}: CN=R3,O=Let's Encrypt,C=US",
        f"  Pinned certificates for {host}:",
        f"    sha256/{p[2]}",
        "\tat okhttp3.CertificatePinner.check(CertificatePinner.kt:200)",
    ],
    lambda host, p: [
        "javax.net.ssl.SSLHandshakeException: java.security.cert.CertPathValidatorException: Trust anchor for certification path not found.",
        "\tat com.android.org.conscrypt.SSLUtils.toSSLHandshakeException(SSLUtils.java:362)",
        "Caused by: java.security.cert.CertPathValidatorException: Trust anchor for certification path not found.",
    ],
    lambda host, p: [
        f"* Establish HTTP proxy tunnel to {host}:443",
        f"*  issuer: CN=mitmproxy,O=mitmproxy",
        f"*  public key hash: sha256//{p[0]}",
        "curl: (90) SSL: public key does not match pinned public key",
    ],
    lambda host, p: [
        f"urllib3.exceptions.MaxRetryError: HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded (Caused by SSLError(SSLError('Fingerprints did not match. Expected \"{'ab' * 32}\", got \"{'cd' * 32}\"')))",
    ],
]

limit = int(size_mb * 1024 * 1024)
written = 0
i = 0
failures = 0
with open(out, "w") as f:
    while written < limit:
        i += 1
        if i % every == 0:
            host = f"api{failures % 50}.example.com"
            lines = blocks[failures % len(blocks)](host, [pin(), pin(), pin()])
            failures += 1
            tag = "System.err"
        else:
            n = rng.randint(4, 16)
            lines = [" ".join(rng.choice(words) for _ in range(n)) + f" id={rng.randint(0, 10**9)}"]
            tag = rng.choice(tags)
        for line in lines:
            text = prefix(i, tag) + line + "\n"
            f.write(text)
            written += len(text)
print(f"{out}: {written / 1048576:.0f} MB, {failures} failures", file=sys.stderr)
