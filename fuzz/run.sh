#!/usr/bin/env bash
# fuzz/run.sh [--install] [SECONDS] [TARGET...]
#
# Builds the fuzz targets with cargo-fuzz, then runs each (all of them by default) for SECONDS
# (default 60), one after the other, and prints runs, executions per second and crashes per
# target. Exits 1 if a target crashed: the input is in fuzz/artifacts/TARGET/ and the log in
# fuzz/target/run-TARGET.log; replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/crash-...` and turn it into a
# regression test in tests/properties.rs. Without cargo-fuzz it says so and exits 0, unless
# --install is given: then it runs `cargo install cargo-fuzz --locked` first.
#
# What works on a machine with only a stable toolchain (checked with rustc 1.95.0 and
# cargo-fuzz 0.13.2; no nightly can be fetched):
#
#   cargo install cargo-fuzz --locked                 # once (or fuzz/run.sh --install)
#   cd fuzz
#   RUSTC_BOOTSTRAP=1 cargo fuzz build                # AddressSanitizer (the default) needs
#                                                     # -Zsanitizer: RUSTC_BOOTSTRAP=1 lets stable
#                                                     # accept it; stable ships the ASan runtime
#   RUSTC_BOOTSTRAP=1 cargo fuzz run scenario_parse -- -max_total_time=60
#
# Without RUSTC_BOOTSTRAP=1, `cargo fuzz build` fails at once: "the option `Z` is only accepted
# on the nightly compiler". `cargo fuzz build --sanitizer none` passes no -Z flag and builds on
# plain stable without it (FUZZ_SANITIZER=none below); the code under test has
# `unsafe_code = "forbid"`, so ASan mostly guards the dependencies' unsafe code (aws-lc's C is
# not instrumented either way).
# The first build compiles every dependency with coverage instrumentation: about 10 minutes on
# 2 cores. Builds with different sanitizers go to different target dirs so neither rebuilds the
# other.
#
# Environment: FUZZ_SANITIZER=address|none (default address). One libFuzzer process per
# target, in turn. Corpora grow in fuzz/corpus/TARGET (git-ignored); seeds made from
# the repository's own files go to fuzz/corpus/seeds/TARGET at each run.
set -euo pipefail
cd "$(dirname "$0")"

install=0
if [ "${1:-}" = "--install" ]; then
  install=1
  shift
fi
seconds=60
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  if [ "$install" = 1 ]; then
    cargo install cargo-fuzz --locked
  else
    echo "fuzz/run.sh: cargo-fuzz is not installed; skipped (run with --install to install it)"
    exit 0
  fi
fi

sanitizer=${FUZZ_SANITIZER:-address}
# A sanitizer makes cargo-fuzz pass -Zsanitizer, which a stable rustc takes only with
# RUSTC_BOOTSTRAP=1; `none` passes no -Z flag.
if [ "$sanitizer" != none ] && ! rustc -vV | grep -q '^release: .*nightly'; then
  export RUSTC_BOOTSTRAP=1
fi
target_dir=target
if [ "$sanitizer" != address ]; then
  target_dir="target/sanitizer-$sanitizer"
fi
flags=(--sanitizer "$sanitizer" --target-dir "$target_dir")
triple=$(rustc -vV | sed -n 's/^host: //p')

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# Seeds from the repository's own files and a few hand-made inputs.
seed() { # seed TARGET NAME < content
  mkdir -p "corpus/seeds/$1"
  cat >"corpus/seeds/$1/$2"
}
for f in ../scenarios/*.toml; do
  [ -e "$f" ] && seed scenario_parse "$(basename "$f")" <"$f"
done
printf '[client]\ncommand = "x {url}"\n[[origin]]\nname = "api"\nhost = "a.test"\n[matrix]\nmissing_pin = "cancelled"\nchain_pins = true\n' |
  seed scenario_parse minimal.toml
printf '[[rule]]\nhosts = "*.cdn.example.com"\naction = "passthrough"\n\n[[rule]]\nhosts = "api.example.com"\nprofile = "expired"\n' |
  seed rules_file readme.toml
printf 'api.test=expired\napi.test:8443=127.0.0.1:9001\n[::1]:443=[::1]:9\n' | seed rules_file flags
printf '*.example.com\na.b.EXAMPLE.com' | seed host_glob star
printf 'a*b?c*\naXbYcZZ' | seed host_glob mixed
printf 'curl -x {proxy_url} ${PIN_PROXY_PINS_CURL:+--pinnedpubkey "${X}"} {{lit}} {url}' | seed template shell
printf '{pins_okhttp},{pinned_host}' | seed template values
for d in 500ms 5s 2m 86400 0.5s; do printf '%s' "$d" | seed duration "$d"; done
# intercept, hello, certificate, completed, data; and a close after the handshake
printf '\x04\x07\x08\x0a\x0c\x0d\x00\x00' | seed verdict_events proceeded
printf '\x04\x07\x08\x0a\x0e\x01' | seed verdict_events cancelled
# split size, then a handshake record holding a ServerHello
{ printf '\x07\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03'; head -c 32 /dev/zero | tr '\0' '\7'; printf '\x00\x00'; } |
  seed server_flight server_hello
printf -- '-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n' | seed pem tiny
if command -v openssl >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fuzz.test \
    -days 1 -keyout "$tmp/key" -out "$tmp/cert" >/dev/null 2>&1; then
    seed pem openssl-cert <"$tmp/cert"
    openssl x509 -in "$tmp/cert" -outform DER | seed pem openssl-der
  fi
  rm -rf "$tmp"
fi

# Build once, then run the binaries themselves: `cargo fuzz run` would rebuild between targets
# whenever the sources change meanwhile, and every target should test the same build.
echo "fuzz/run.sh: building ${targets[*]} (sanitizer $sanitizer)"
cargo fuzz build "${flags[@]}" >/dev/null

declare -A dicts=([scenario_parse]=dict/toml.dict [rules_file]=dict/toml.dict [template]=dict/toml.dict)
summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "corpus/seeds/$t"
  log="target/run-$t.log"
  mkdir -p "artifacts/$t"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
    -artifact_prefix="artifacts/$t/")
  if [ -n "${dicts[$t]:-}" ]; then
    args+=(-dict="${dicts[$t]}")
  fi
  echo "fuzz/run.sh: $t for ${seconds}s"
  if "$target_dir/$triple/release/$t" "${args[@]}" "corpus/$t" "corpus/seeds/$t" >"$log" 2>&1; then
    status=ok
  else
    status=CRASHED
    failed=1
    grep -E 'panicked at|^Test unit written|SUMMARY' "$log" | head -5 || true
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  corpus=$(find "corpus/$t" -type f | wc -l)
  summary+=("$(printf '%-16s %-8s %10s runs %8s exec/s %6s corpus' "$t" "$status" "${runs:-?}" "${rate:-?}" "$corpus")")
done

echo
printf '%s\n' "${summary[@]}"
exit "$failed"
