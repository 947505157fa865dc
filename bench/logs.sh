#!/usr/bin/env bash
# `pin-proxy logs explain` against `grep -c -E` over the same generated logcat, for the formats'
# trigger phrases, in one run: a 100 MB file with failures scattered through it (bench/gen_logcat.py),
# ROUNDS alternating runs of each, the median wall and CPU time of each and their ratio; then the
# peak RSS of `logs explain` reading 1 GB (the 100 MB file ten times, on stdin).
#
# Usage: bench/logs.sh            Environment: LOGS_ROUNDS (5), LOGS_MB (100), LOGS_DIR (a temp dir)
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
ROUNDS=${LOGS_ROUNDS:-5}
MB=${LOGS_MB:-100}
DIR=${LOGS_DIR:-$(mktemp -d)}
BIN="$ROOT/target/release/pin-proxy"
LOG="$DIR/logcat-${MB}mb.log"

# The phrases the reader's automaton looks for (the main one of each format).
PATTERN='Certificate pinning failure!| not verified|Pin verification failed|Trust anchor for certification path not found|=== TrustKit: |TrustKit log: |"known-pins"|public key does not match pinned public key|public key hash: sha256//|does not match our pinned fingerprint|Fingerprints did not match|ERR_SSL_PINNED_KEY_NOT_IN_CERT_CHAIN|ERR_CERT_AUTHORITY_INVALID|NSURLErrorDomain|pinning failed for host |evaluation failed for host |CERTIFICATE_VERIFY_FAILED|CONNECTION_NOT_SECURE|RemoteCertificateValidationCallback|The remote certificate is invalid|ApproovService|URLSessionDelegate: |Client TLS handshake failed|pin-proxy client:|"verdict":"cancelled"'

(cd "$ROOT" && cargo build --release --quiet)
[ -f "$LOG" ] || python3 "$BENCH/gen_logcat.py" "$LOG" "$MB"
echo "file: $(du -m "$LOG" | cut -f1) MB, $(wc -l <"$LOG") lines; grep matches: $(grep -c -E "$PATTERN" "$LOG")"
"$BIN" logs explain "$LOG" >/dev/null  # warm the page cache
grep -c -E "$PATTERN" "$LOG" >/dev/null

# One timed run: prints "wall cpu" in seconds (GNU time). Output goes to a file, not /dev/null:
# GNU grep stops at the first match when its output is /dev/null.
timed() {
  /usr/bin/time -f "%e %U %S" "$@" 2>&1 >"$DIR/out.txt" | tail -1 | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: >"$DIR/explain.txt"; : >"$DIR/grep.txt"
for _ in $(seq "$ROUNDS"); do
  timed "$BIN" logs explain "$LOG" --json >>"$DIR/explain.txt"
  timed grep -c -E "$PATTERN" "$LOG" >>"$DIR/grep.txt"
done
ew=$(cut -d' ' -f1 "$DIR/explain.txt" | median); ec=$(cut -d' ' -f2 "$DIR/explain.txt" | median)
gw=$(cut -d' ' -f1 "$DIR/grep.txt" | median); gc=$(cut -d' ' -f2 "$DIR/grep.txt" | median)
echo "logs explain --json: wall ${ew}s cpu ${ec}s (median of $ROUNDS)"
echo "grep -c -E:          wall ${gw}s cpu ${gc}s"
awk -v a="$ew" -v b="$gw" 'BEGIN { printf "ratio explain/grep (wall): %.2f\n", a / b }'

rss=$( { for _ in $(seq 10); do cat "$LOG"; done | /usr/bin/time -f "%M" "$BIN" logs explain - --json >/dev/null; } 2>&1 | tail -1)
echo "peak RSS reading $((MB * 10)) MB on stdin: $((rss / 1024)) MB"
