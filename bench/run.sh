#!/usr/bin/env bash
# Benchmarks pin-proxy against mitmproxy 11.0.2 and a minimal hudsucker proxy (bench/src/bin/
# hudsucker_ref.rs), with loadgen straight to the origin as the baseline. Passthrough also runs
# through relay-floor (bench/src/bin/relay_floor.rs), the least a user-space relay can do, to
# show how much of the gap to direct any relay on the machine pays. Everything runs on
# loopback. Each measurement starts the proxy fresh, warms up, then measures; the targets take turns
# within a round, and the report shows the median over the rounds. Results: bench/results/latest.md
# (and latest.jsonl, one line per measurement).
#
# The front-doors section compares pin-proxy's HTTP listener, its SOCKS5 listener and its
# transparent listener on the same cases, inside a network namespace of the run's own (root,
# ip and iptables needed; skipped otherwise), where an iptables REDIRECT sends the client's
# connections to the transparent listener. It touches no rule of the host.
#
# Usage: bench/run.sh [--quick] [--front-doors]
#   --quick         one short round of each section (a smoke test)
#   --front-doors   only the front-doors section (as BENCH_SECTIONS=front-doors)
# Environment: BENCH_SECTIONS ("main front-doors": the comparison with the other proxies, the
#   front doors), BENCH_ROUNDS (3), BENCH_DURATION (6 s measured), BENCH_WARMUP (2 s),
#   BENCH_IDLE_CONNECTIONS (2000), BENCH_KEY_TYPES ("ecdsa rsa"),
#   BENCH_MAX_OTHER (10: a run during which other jobs took more than this % of the machine's CPU
#   while it was saturated is disturbed, and is run again once), BENCH_MAX_RERUNS (12: at most
#   this many such re-runs), BENCH_NICE (-10: the scheduling priority of this run's session, see
#   below; "off" leaves it).
#
# Other jobs on the machine (builds, tests) disturb a benchmark. Linux schedules each session as a
# group (autogroup), so `nice` alone does nothing against another session's jobs; this script gives
# its session's autogroup BENCH_NICE for the duration of the run (root only) and restores it after.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-6}
WARMUP=${BENCH_WARMUP:-2}
IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-2000}
KEY_TYPES=${BENCH_KEY_TYPES:-"ecdsa rsa"}
MAX_OTHER=${BENCH_MAX_OTHER:-10}
MAX_RERUNS=${BENCH_MAX_RERUNS:-12}
NICE=${BENCH_NICE:--10}
SECTIONS=${BENCH_SECTIONS:-"main front-doors"}
MITMPROXY_VERSION=11.0.2

for arg in "$@"; do
  case $arg in
    --quick) ROUNDS=1 DURATION=2 WARMUP=1 ;;
    --front-doors) SECTIONS=front-doors ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done
for section in $SECTIONS; do
  case $section in
    main|front-doors) ;;
    *) echo "unknown section in BENCH_SECTIONS: $section (main, front-doors)" >&2; exit 2 ;;
  esac
done
section_on() { [[ " $SECTIONS " == *" $1 "* ]]; }

log() { echo "[bench] $*" >&2; }
oneline() { tr '\n' ' ' < "$1" | sed 's/ *$//'; }

WORK=$(mktemp -d)
PIDS=()
OLD_NICE=
NETNS=         # the front-doors section's network namespace, once made
IN_NS=()       # the prefix that runs a command inside it (empty: the host's namespace)
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # The namespace goes with its rules and addresses; the host's own were never touched.
  if [ -n "$NETNS" ]; then ip netns del "$NETNS" 2>/dev/null || log "could not remove network namespace $NETNS"; fi
  rm -rf "$WORK"
  if [ -n "$OLD_NICE" ]; then echo "$OLD_NICE" > /proc/self/autogroup 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$NICE" != off ] && [ -w /proc/self/autogroup ]; then
  OLD_NICE=$(sed -n 's/.* nice //p' /proc/self/autogroup)
  if ! echo "$NICE" > /proc/self/autogroup 2>/dev/null; then
    log "could not set this session's priority to $NICE (needs root); other jobs may disturb the run"
    OLD_NICE=
  fi
fi

# --- build and install -------------------------------------------------------------------------
log "building pin-proxy and the bench tools"
(cd "$ROOT" && cargo build --release --locked --quiet)
(cd "$BENCH" && cargo build --release --locked --quiet)
# Copies, so that a rebuild during the run cannot swap the binaries under it.
WORK_BIN=$WORK/bin
mkdir -p "$WORK_BIN"
cp "$ROOT/target/release/pin-proxy" "$BENCH/target/release/"{loadgen,origin,hudsucker-ref,relay-floor} "$WORK_BIN/"
PIN_PROXY=$WORK_BIN/pin-proxy
BIN=$WORK_BIN
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null; then
  COMMIT="$COMMIT+uncommitted"
fi
if section_on main && ! "$BENCH/.venv/bin/mitmdump" --version 2>/dev/null | grep -q "Mitmproxy: $MITMPROXY_VERSION"; then
  log "installing mitmproxy $MITMPROXY_VERSION into bench/.venv"
  python3 -m venv "$BENCH/.venv"
  "$BENCH/.venv/bin/pip" install --quiet "mitmproxy==$MITMPROXY_VERSION"
fi
MITMDUMP=$BENCH/.venv/bin/mitmdump
CLK_TCK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$BENCH/results"
RESULTS=$BENCH/results/latest.jsonl
: > "$RESULTS"

# --- process helpers ---------------------------------------------------------------------------
# A port nobody listens on, outside the ephemeral range (so no client socket holds it); in the
# namespace of IN_NS, as every helper here.
pick_port() {
  local port _
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 12000))
    if ! "${IN_NS[@]}" ss -Hltn "sport = :$port" | grep -q .; then echo "$port"; return 0; fi
  done
  echo "no free port" >&2; return 1
}

# Whether PID runs (a child that exited but was not waited for yet is a zombie: not running).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Waits (at most 30 s) until PID listens on PORT.
wait_listening() {
  local pid=$1 port=$2 _
  for _ in $(seq 300); do
    alive "$pid" || { log "process $pid exited before listening on $port"; return 1; }
    "${IN_NS[@]}" ss -Hltn "sport = :$port" | grep -q . && return 0
    sleep 0.1
  done
  log "nothing listens on $port after 30 s"; return 1
}

# Stops a process we started (SIGTERM, then SIGKILL after 5 s) and forgets its id.
stop() {
  local pid=$1 p _ keep=()
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# Whether loadgen's JSON says other jobs took more than MAX_OTHER % of the machine's CPU while it
# was saturated (less than 10 % idle). Spare CPU that others use does not count.
disturbed() {
  local other idle
  other=$(echo "$1" | grep -oE '"other_cpu_s":[0-9.]+' | cut -d: -f2 || true)
  idle=$(echo "$1" | grep -oE '"idle_cpu_s":[0-9.]+' | cut -d: -f2 || true)
  [ -n "$other" ] && [ -n "$idle" ] && awk -v o="$other" -v i="$idle" -v d="$DURATION" \
    -v n="$(nproc)" -v m="$MAX_OTHER" 'BEGIN { exit !(100 * o / (d * n) > m && 100 * i / (d * n) < 10) }'
}

json_string() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }

status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# --- the origin (ECDSA P-256, the same for every run: only the proxies' leaves change) ----------
# Sets ORIGIN_PORT, ORIGIN_ROOT and ORIGIN_PID, and makes a pin-proxy CA per key type.
start_main_origin() {
  ORIGIN_PORT=$(pick_port)
  ORIGIN_ROOT=$WORK/origin-root.pem
  "$BIN/origin" --listen "127.0.0.1:$ORIGIN_PORT" --root-out "$ORIGIN_ROOT" > "$WORK/origin.log" 2>&1 &
  ORIGIN_PID=$!
  PIDS+=("$ORIGIN_PID")
  wait_listening "$ORIGIN_PID" "$ORIGIN_PORT"

  for kt in $KEY_TYPES; do
    case $kt in ecdsa) pkt=ecdsa-p256 ;; rsa) pkt=rsa2048 ;; *) echo "unknown key type $kt" >&2; exit 2 ;; esac
    "$PIN_PROXY" --ca-dir "$WORK/pin-ca-$kt" ca init --key-type "$pkt" > /dev/null
  done
}

# Starts TARGET (pin-proxy, mitmproxy, hudsucker-ref, relay-floor) fresh with key type KT, intercepting or
# passing through; sets PROXY_PID, PROXY_PORT and PROXY_CA (the roots the client must trust).
start_proxy() {
  local target=$1 kt=$2 passthrough=$3 pkt
  [ "$kt" = - ] && kt=ecdsa # passthrough forges nothing; the proxies still need a CA to start
  PROXY_PORT=$(pick_port)
  case $target in
    pin-proxy)
      pkt=$([ "$kt" = rsa ] && echo rsa2048 || echo ecdsa-p256)
      local extra=()
      [ "$passthrough" = 1 ] && extra=(--passthrough '*')
      "$PIN_PROXY" proxy --listen "127.0.0.1:$PROXY_PORT" --ca-dir "$WORK/pin-ca-$kt" \
        --upstream-ca "$ORIGIN_ROOT" --events "$WORK/events.jsonl" --quiet \
        --leaf-key-type "$pkt" "${extra[@]}" > "$WORK/pin-proxy.log" 2>&1 &
      PROXY_CA=$WORK/pin-ca-$kt/ca.pem ;;
    mitmproxy)
      local extra=()
      [ "$passthrough" = 1 ] && extra=(--ignore-hosts '.*')
      "$MITMDUMP" --listen-host 127.0.0.1 --listen-port "$PROXY_PORT" --set "confdir=$WORK/mitmproxy" \
        --set "ssl_verify_upstream_trusted_ca=$ORIGIN_ROOT" -q "${extra[@]}" > "$WORK/mitmproxy.log" 2>&1 &
      PROXY_CA=$WORK/mitmproxy/mitmproxy-ca-cert.pem ;;
    hudsucker-ref)
      local extra=()
      [ "$passthrough" = 1 ] && extra=(--passthrough)
      "$BIN/hudsucker-ref" --listen "127.0.0.1:$PROXY_PORT" --ca-out "$WORK/hudsucker-ca.pem" \
        --key-type "$kt" --upstream-ca "$ORIGIN_ROOT" "${extra[@]}" > "$WORK/hudsucker.log" 2>&1 &
      PROXY_CA=$WORK/hudsucker-ca.pem ;;
    relay-floor) # passthrough only: it relays bytes and forges nothing
      "$BIN/relay-floor" --listen "127.0.0.1:$PROXY_PORT" > "$WORK/relay-floor.log" 2>&1 &
      PROXY_CA=$ORIGIN_ROOT ;;
  esac
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  wait_listening "$PROXY_PID" "$PROXY_PORT"
  [ "$passthrough" = 1 ] && PROXY_CA=$ORIGIN_ROOT
  return 0
}

# One measurement (the command given: measure_once or measure_door_once, and its arguments),
# run again once if other jobs disturbed it (at most MAX_RERUNS in all); every attempt is
# recorded (report.py prefers undisturbed ones).
RERUNS=0
measure() {
  "$@"
  if disturbed "$LAST_OUT" && [ "$RERUNS" -lt "$MAX_RERUNS" ]; then
    RERUNS=$((RERUNS + 1))
    log "  disturbed by other jobs; once more"
    "$@"
  fi
}

# One measurement: CASE for TARGET with key type KT in ROUND; appends a line to $RESULTS.
measure_once() {
  local case=$1 target=$2 kt=$3 round=$4 mode conc passthrough=0 out hwm=null
  case $case in
    newconn16) mode=new-conn conc=16 ;;
    keepalive16) mode=keep-alive conc=16 ;;
    passthrough16) mode=keep-alive conc=16 passthrough=1 ;;
    newconn1) mode=new-conn conc=1 ;;
  esac
  local load=(--target "127.0.0.1:$ORIGIN_PORT" --mode "$mode" --concurrency "$conc"
    --duration "$DURATION" --warmup "$WARMUP" --origin-pid "$ORIGIN_PID" --clk-tck "$CLK_TCK")
  if [ "$target" = direct ]; then
    out=$("$BIN/loadgen" "${load[@]}" --ca "$ORIGIN_ROOT") || out='{"failed":true}'
  else
    start_proxy "$target" "$kt" "$passthrough"
    out=$("$BIN/loadgen" "${load[@]}" --proxy "127.0.0.1:$PROXY_PORT" --ca "$PROXY_CA" \
      --pid "$PROXY_PID") || out='{"failed":true}'
    hwm=$(status_kb "$PROXY_PID" VmHWM)
    stop "$PROXY_PID"
  fi
  echo "{\"case\":\"$case\",\"target\":\"$target\",\"key\":\"$kt\",\"round\":$round,\"hwm_kb\":$hwm,\"result\":$out}" >> "$RESULTS"
  LAST_OUT=$out
  log "round $round $kt $case $target: $(echo "$out" | grep -oE '"(rate|p50_ms|cpu_per_1000|errors|other_cpu_s)":[^,]*' | tr '\n' ' ')hwm=${hwm}kB"
}

# Holds IDLE_CONNECTIONS TLS connections through TARGET and records its VmRSS meanwhile.
measure_idle() {
  local target=$1 kt=$2 round=$3 lg rss=null hwm=null out='{"failed":true}' _
  start_proxy "$target" "$kt" 0
  "$BIN/loadgen" --target "127.0.0.1:$ORIGIN_PORT" --proxy "127.0.0.1:$PROXY_PORT" --ca "$PROXY_CA" \
    --mode idle --connections "$IDLE_CONNECTIONS" --concurrency 32 --hold-max 120 > "$WORK/idle.out" &
  lg=$!
  PIDS+=("$lg")
  for _ in $(seq 600); do
    grep -q '"ready"' "$WORK/idle.out" && break
    alive "$lg" || break
    sleep 0.1
  done
  if grep -q '"ready"' "$WORK/idle.out"; then
    sleep 1
    out=$(head -n 1 "$WORK/idle.out")
    rss=$(status_kb "$PROXY_PID" VmRSS)
    hwm=$(status_kb "$PROXY_PID" VmHWM)
  fi
  stop "$lg"
  stop "$PROXY_PID"
  echo "{\"case\":\"idle\",\"target\":\"$target\",\"key\":\"$kt\",\"round\":$round,\"rss_kb\":$rss,\"hwm_kb\":$hwm,\"result\":$out}" >> "$RESULTS"
  log "round $round $kt idle $target: rss=${rss}kB $out"
}

# --- the front doors: HTTP listener, SOCKS5 and transparent, in a namespace of the run's own ----
# The client connects to FD_ADDR:443 (an address on the namespace's loopback), as an app whose
# connection is redirected would; through the HTTP listener and SOCKS5 it asks for FD_NAME:443.
# Either way the TLS server name is FD_NAME, so pin-proxy forges the same leaf, verifies the
# origin under the same name and applies the same rules whichever door the connection came in by.
# Two references without a proxy show what the redirect itself costs: loadgen straight to the
# origin (direct), and to FD_REF_ADDR:443, which a second rule redirects to the origin
# (direct-redirected).
FD_NAME=bench-origin.test
FD_ADDR=10.203.0.1
FD_REF_ADDR=10.203.0.2
FD_TARGETS=(http socks5 transparent direct direct-redirected)
FD_PROBLEMS=()

# Why the front-doors section cannot run here (nothing printed: it can).
front_doors_unavailable() {
  if [ "$(id -u)" != 0 ]; then echo "needs root (ip netns add, iptables in the namespace)"; return; fi
  local tool
  for tool in ip iptables ss; do
    command -v "$tool" > /dev/null 2>&1 || { echo "needs $tool (iproute2, iptables)"; return; }
  done
}

# Makes the namespace (NETNS, entered with IN_NS): loopback up, FD_ADDR and FD_REF_ADDR on it (so
# a connection to them has a route and goes through the OUTPUT chain), and two REDIRECT rules:
# FD_ADDR:443 to the transparent port FD_TPORT, FD_REF_ADDR:443 to the origin's FD_ORIGIN_PORT.
# On failure, FD_SKIPPED says why.
front_doors_namespace() {
  local ns=pin-proxy-bench-$$ err=$WORK/netns.err stale
  # A run that was killed outright (SIGKILL, a power cut) left its namespace behind.
  for stale in $(ip netns list 2>/dev/null | grep -oE '^pin-proxy-bench-[0-9]+' || true); do
    if ! alive "${stale##*-}"; then
      log "removing network namespace $stale, left by an earlier run"
      ip netns del "$stale" 2>/dev/null || true
    fi
  done
  if ! ip netns add "$ns" 2> "$err"; then
    FD_SKIPPED="ip netns add failed: $(oneline "$err")"; return 1
  fi
  NETNS=$ns
  IN_NS=(ip netns exec "$NETNS")
  if ! { ip -n "$NETNS" link set lo up && ip -n "$NETNS" addr add "$FD_ADDR/32" dev lo \
      && ip -n "$NETNS" addr add "$FD_REF_ADDR/32" dev lo; } 2> "$err"; then
    FD_SKIPPED="cannot set up the namespace's loopback: $(oneline "$err")"; return 1
  fi
  FD_TPORT=$(pick_port)
  FD_ORIGIN_PORT=$(pick_port)
  while [ "$FD_ORIGIN_PORT" = "$FD_TPORT" ]; do FD_ORIGIN_PORT=$(pick_port); done
  if ! { "${IN_NS[@]}" iptables -t nat -A OUTPUT -p tcp -d "$FD_ADDR" --dport 443 \
      -j REDIRECT --to-ports "$FD_TPORT" && "${IN_NS[@]}" iptables -t nat -A OUTPUT -p tcp \
      -d "$FD_REF_ADDR" --dport 443 -j REDIRECT --to-ports "$FD_ORIGIN_PORT"; } 2> "$err"; then
    FD_SKIPPED="iptables REDIRECT in the namespace failed: $(oneline "$err")"; return 1
  fi
}

# Connections the REDIRECT rule for address $1 has taken so far (the nat table sees the first
# packet of each connection).
redirected() {
  "${IN_NS[@]}" iptables -t nat -L OUTPUT -v -n -x \
    | awk -v d="$1" '$3 == "REDIRECT" && $9 == d { n += $1 } END { print n + 0 }'
}

# Starts pin-proxy with DOOR as its only listener (the same flags otherwise); sets PROXY_PID and
# PROXY_PORT. Both --map entries are always given: FD_NAME:443 for the HTTP listener and SOCKS5,
# FD_ADDR:443 for the transparent listener (which connects to the original destination).
start_door() {
  local door=$1 listen=()
  case $door in
    http) PROXY_PORT=$(pick_port); listen=(--listen "127.0.0.1:$PROXY_PORT") ;;
    socks5) PROXY_PORT=$(pick_port); listen=(--socks5 "127.0.0.1:$PROXY_PORT") ;;
    transparent) PROXY_PORT=$FD_TPORT; listen=(--transparent "127.0.0.1:$PROXY_PORT") ;;
  esac
  "${IN_NS[@]}" "$PIN_PROXY" proxy "${listen[@]}" --ca-dir "$WORK/pin-ca-fd" \
    --upstream-ca "$FD_ORIGIN_ROOT" --events "$FD_EVENTS" --quiet --leaf-key-type ecdsa-p256 \
    --map "$FD_NAME:443=127.0.0.1:$FD_ORIGIN_PORT" --map "$FD_ADDR:443=127.0.0.1:$FD_ORIGIN_PORT" \
    > "$WORK/pin-proxy-$door.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  wait_listening "$PROXY_PID" "$PROXY_PORT"
}

# One front-doors measurement: CASE through TARGET (a door, or a reference without a proxy) in
# ROUND; appends a line to $RESULTS. Then checks that the run measured what it names: for a
# door, pin-proxy's events file must hold only that listener's records, one that proceeded to
# the origin per connection measured; the rules' counters must show redirected connections in
# the transparent and direct-redirected runs only (as many as were made), and none elsewhere. A
# run that measured another path is recorded as such, and the section fails.
measure_door_once() {
  local case=$1 target=$2 round=$3 mode conc out hwm=null load=() before after ref_before ref_after
  case $case in
    newconn16) mode=new-conn conc=16 ;;
    keepalive16) mode=keep-alive conc=16 ;;
  esac
  rm -f "$FD_EVENTS"
  load=(--name "$FD_NAME" --mode "$mode" --concurrency "$conc" --duration "$DURATION"
    --warmup "$WARMUP" --origin-pid "$FD_ORIGIN_PID" --clk-tck "$CLK_TCK")
  case $target in
    http|socks5|transparent)
      start_door "$target"
      load+=(--target "$FD_ADDR:443" --ca "$WORK/pin-ca-fd/ca.pem" --pid "$PROXY_PID") ;;
    direct) load+=(--target "127.0.0.1:$FD_ORIGIN_PORT" --ca "$FD_ORIGIN_ROOT") ;;
    direct-redirected) load+=(--target "$FD_REF_ADDR:443" --ca "$FD_ORIGIN_ROOT") ;;
  esac
  case $target in
    http) load+=(--proxy "127.0.0.1:$PROXY_PORT") ;;
    socks5) load+=(--socks5 "127.0.0.1:$PROXY_PORT") ;;
  esac
  before=$(redirected "$FD_ADDR")
  ref_before=$(redirected "$FD_REF_ADDR")
  out=$("${IN_NS[@]}" "$BIN/loadgen" "${load[@]}") || out='{"failed":true}'
  after=$(( $(redirected "$FD_ADDR") - before ))
  ref_after=$(( $(redirected "$FD_REF_ADDR") - ref_before ))
  local records=0 door_records=0 reached=0 requests need check=ok
  requests=$(echo "$out" | grep -oE '"requests":[0-9]+' | cut -d: -f2 || true)
  # new-conn: a connection per request; keep-alive: at least one per worker.
  need=$([ "$mode" = new-conn ] && echo "${requests:-0}" || echo "$conc")
  case $target in
    http|socks5|transparent)
      hwm=$(status_kb "$PROXY_PID" VmHWM || true)
      hwm=${hwm:-null}
      stop "$PROXY_PID" # its last records are written before it exits
      records=$(grep -c . "$FD_EVENTS" 2>/dev/null || true)
      door_records=$(grep -cE "\"listener\":\"$target\"[,}]" "$FD_EVENTS" 2>/dev/null || true)
      reached=$(grep -E "\"listener\":\"$target\"[,}]" "$FD_EVENTS" 2>/dev/null \
        | grep -c "\"verdict\":\"proceeded\".*\"upstream\":\"127.0.0.1:$FD_ORIGIN_PORT\"" || true)
      records=${records:-0} door_records=${door_records:-0} reached=${reached:-0}
      if [ "$records" != "$door_records" ]; then
        check="$((records - door_records)) of $records records came in by another listener than $target"
      elif [ "$reached" -lt "$need" ] || [ "$reached" -eq 0 ]; then
        check="only $reached $target records proceeded to the origin, for $need connections measured"
      elif [ "$target" = transparent ] && [ "$after" -lt "$door_records" ]; then
        check="the REDIRECT rule took $after connections, the transparent listener recorded $door_records"
      elif [ "$target" != transparent ] && [ "$after" -ne 0 ]; then
        check="the REDIRECT rule took $after connections of a $target run"
      elif [ "$ref_after" -ne 0 ]; then
        check="the reference's REDIRECT rule took $ref_after connections of a $target run"
      fi ;;
    direct)
      if [ "$after" -ne 0 ] || [ "$ref_after" -ne 0 ]; then
        check="the REDIRECT rules took $after and $ref_after connections of a direct run"
      fi ;;
    direct-redirected)
      if [ "$ref_after" -lt "$need" ] || [ "$ref_after" -eq 0 ] || [ "$after" -ne 0 ]; then
        check="the reference's REDIRECT rule took $ref_after connections (the door's $after), for $need measured"
      fi ;;
  esac
  if [ "$check" != ok ]; then
    log "FRONT DOORS: round $round $case $target does not measure what it names: $check"
    FD_PROBLEMS+=("round $round $case $target: $check")
  fi
  echo "{\"section\":\"front-doors\",\"case\":\"$case\",\"target\":\"$target\",\"key\":\"ecdsa\",\"round\":$round,\"hwm_kb\":$hwm,\"records\":$records,\"redirected\":$((after + ref_after)),\"door_check\":$(json_string "$check"),\"result\":$out}" >> "$RESULTS"
  LAST_OUT=$out
  log "round $round front doors $case $target: $(echo "$out" | grep -oE '"(rate|p50_ms|cpu_per_1000|errors|other_cpu_s)":[^,]*' | tr '\n' ' ')records=$records redirected=$((after + ref_after)) hwm=${hwm}kB"
}

run_front_doors() {
  FD_SKIPPED=$(front_doors_unavailable)
  if [ -n "$FD_SKIPPED" ] || ! front_doors_namespace; then
    log "front doors: SKIPPED: $FD_SKIPPED"
    echo "{\"section\":\"front-doors\",\"skipped\":$(json_string "$FD_SKIPPED")}" >> "$RESULTS"
    IN_NS=()
    return 0
  fi
  log "front doors in network namespace $NETNS: $FD_ADDR:443 redirected to the transparent port" \
    "$FD_TPORT, $FD_REF_ADDR:443 to the origin's $FD_ORIGIN_PORT"
  FD_ORIGIN_ROOT=$WORK/fd-origin-root.pem
  FD_EVENTS=$WORK/fd-events.jsonl
  "${IN_NS[@]}" "$BIN/origin" --listen "127.0.0.1:$FD_ORIGIN_PORT" --root-out "$FD_ORIGIN_ROOT" \
    --name "$FD_NAME" > "$WORK/fd-origin.log" 2>&1 &
  FD_ORIGIN_PID=$!
  PIDS+=("$FD_ORIGIN_PID")
  wait_listening "$FD_ORIGIN_PID" "$FD_ORIGIN_PORT"
  "$PIN_PROXY" --ca-dir "$WORK/pin-ca-fd" ca init --key-type ecdsa-p256 > /dev/null
  local round case i n=${#FD_TARGETS[@]}
  for round in $(seq "$ROUNDS"); do
    for case in newconn16 keepalive16; do
      # The doors and references take turns, starting one further each round.
      for i in $(seq 0 $((n - 1))); do
        measure measure_door_once "$case" "${FD_TARGETS[$(((round - 1 + i) % n))]}" "$round"
      done
    done
  done
  stop "$FD_ORIGIN_PID"
  IN_NS=()
}

# --- the runs ----------------------------------------------------------------------------------
log "sections: $SECTIONS; rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s key types: $KEY_TYPES"
START=$(date +%s)
FD_SKIPPED=
if section_on main; then
  start_main_origin
  for round in $(seq "$ROUNDS"); do
    # Key-independent: the direct baselines and passthrough (no certificate is forged).
    for case in newconn16 keepalive16 newconn1; do measure measure_once "$case" direct - "$round"; done
    for target in pin-proxy mitmproxy hudsucker-ref relay-floor; do
      measure measure_once passthrough16 "$target" - "$round"
    done
    for case in newconn16 keepalive16 newconn1; do
      # mitmproxy forges RSA leaves whatever we ask, so it runs once, under "rsa".
      for kt in $KEY_TYPES; do
        for target in pin-proxy hudsucker-ref; do measure measure_once "$case" "$target" "$kt" "$round"; done
      done
      measure measure_once "$case" mitmproxy rsa "$round"
    done
    for kt in $KEY_TYPES; do
      for target in pin-proxy hudsucker-ref; do measure_idle "$target" "$kt" "$round"; done
    done
  done
  stop "$ORIGIN_PID"
fi
if section_on front-doors; then run_front_doors; fi
log "measured in $(( $(date +%s) - START )) s, with $RERUNS re-runs of disturbed runs"

python3 "$BENCH/report.py" "$RESULTS" \
  --meta "sections=$SECTIONS" "rounds=$ROUNDS" "duration_s=$DURATION" "warmup_s=$WARMUP" \
  "idle_connections=$IDLE_CONNECTIONS" "pin_proxy_commit=$COMMIT" \
  "mitmproxy=$MITMPROXY_VERSION" "max_other_percent=$MAX_OTHER" "session_nice=$NICE" \
  > "$BENCH/results/latest.md"
cat "$BENCH/results/latest.md"
if [ ${#FD_PROBLEMS[@]} -gt 0 ]; then
  log "FRONT DOORS FAILED: these runs did not measure the door they name:"
  printf '[bench]   %s\n' "${FD_PROBLEMS[@]}" >&2
  exit 1
fi
if [ -n "$FD_SKIPPED" ] && [ "$SECTIONS" = front-doors ]; then
  log "front doors: nothing measured ($FD_SKIPPED)"
  exit 1
fi
