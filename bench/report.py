#!/usr/bin/env python3
"""Turns bench/run.sh's measurements (JSON Lines) into the markdown report: the median of each
metric over the rounds per case and target, pin-proxy's ratios, and the project's targets."""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess

TARGETS = ["direct", "pin-proxy", "mitmproxy", "hudsucker-ref", "relay-floor"]
CASES = {
    "newconn16": "intercept, new connection per request, 16 concurrent",
    "keepalive16": "intercept, keep-alive, 16 concurrent",
    "passthrough16": "passthrough, keep-alive, 16 concurrent",
    "newconn1": "intercept, new connection per request, 1 client",
    "idle": "idle TLS connections held through the proxy",
}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def disturbed(row, max_other):
    """Whether other jobs took more than max_other % of the machine's CPU while it was saturated
    (less than 10 % idle) during the run. Spare CPU that others use does not count."""
    r = row["result"]
    other, idle, seconds = r.get("other_cpu_s"), r.get("idle_cpu_s"), r.get("seconds")
    if other is None or idle is None or not seconds:
        return False
    capacity = seconds * os.cpu_count()
    return 100 * other / capacity > max_other and 100 * idle / capacity < 10


class Results:
    def __init__(self, path, max_other):
        self.groups = {}
        self.max_other = max_other
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    self.groups.setdefault((row["case"], row["target"], row["key"]), []).append(row)

    def all_rows(self, case, target, key):
        # direct and passthrough do not depend on the key type; mitmproxy only forges RSA leaves.
        for k in (key, "-", "rsa" if target == "mitmproxy" else None):
            if (case, target, k) in self.groups:
                return self.groups[(case, target, k)]
        return []

    def rows(self, case, target, key):
        """The undisturbed runs of a cell, or all of them if every one was disturbed."""
        rows = self.all_rows(case, target, key)
        clean = [r for r in rows if not disturbed(r, self.max_other)]
        return clean or rows

    def only_disturbed(self, case, target, key):
        rows = self.all_rows(case, target, key)
        return bool(rows) and all(disturbed(r, self.max_other) for r in rows)

    def disturbed_count(self):
        rows = [r for group in self.groups.values() for r in group]
        return sum(disturbed(r, self.max_other) for r in rows), len(rows)

    def metric(self, case, target, key, field):
        rows = self.rows(case, target, key)
        if field in ("hwm_kb", "rss_kb"):
            kb = median(r.get(field) for r in rows)
            return None if kb is None else kb * 1024 / 1e6  # MB (10^6 bytes)
        return median(r["result"].get(field) for r in rows if not r["result"].get("failed"))

    def problems(self, case, target, key):
        rows = self.rows(case, target, key)
        errors = sum(r["result"].get("errors") or 0 for r in rows)
        failed = sum(1 for r in rows if r["result"].get("failed"))
        notes = []
        if errors:
            notes.append(f"{errors} errors")
        if failed:
            notes.append(f"{failed} runs failed")
        return notes


def fmt(value, digits):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return None if a is None or not b else a / b


def key_table(res, key):
    lines = [
        "| case | metric | direct | pin-proxy | mitmproxy (RSA leaves) | hudsucker-ref | relay-floor (passthrough only) | pin-proxy ÷ hudsucker-ref |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    metrics = {
        "newconn16": [("conn/s", "rate", 0), ("CPU s / 1000 conns", "cpu_per_1000", 3),
                      ("peak RSS MB", "hwm_kb", 1), ("p50 ms", "p50_ms", 2), ("p99 ms", "p99_ms", 2)],
        "keepalive16": [("req/s", "rate", 0), ("CPU s / 1000 req", "cpu_per_1000", 4),
                        ("peak RSS MB", "hwm_kb", 1), ("p50 ms", "p50_ms", 2), ("p99 ms", "p99_ms", 2)],
        "passthrough16": [("req/s", "rate", 0), ("CPU s / 1000 req", "cpu_per_1000", 4),
                          ("peak RSS MB", "hwm_kb", 1), ("p50 ms", "p50_ms", 2)],
        "newconn1": [("p50 ms", "p50_ms", 2), ("p99 ms", "p99_ms", 2), ("conn/s", "rate", 0),
                     ("CPU s / 1000 conns", "cpu_per_1000", 3), ("peak RSS MB", "hwm_kb", 1)],
        "idle": [("VmRSS MB while held", "rss_kb", 1), ("connections held", "connections", 0)],
    }
    for case, rows in metrics.items():
        for i, (label, field, digits) in enumerate(rows):
            cells = []
            for target in TARGETS:
                # direct's keep-alive run is the passthrough baseline; direct has no proxy to measure.
                src = "keepalive16" if (target == "direct" and case == "passthrough16") else case
                if target == "direct" and field in ("cpu_per_1000", "hwm_kb"):
                    cells.append("—")
                    continue
                cell = fmt(res.metric(src, target, key, field), digits)
                notes = res.problems(src, target, key) if i == 0 else []
                mark = " †" if res.only_disturbed(src, target, key) and cell != "—" else ""
                cells.append(cell + mark + (f" ({', '.join(notes)})" if notes else ""))
            r = ratio(res.metric(case, "pin-proxy", key, field), res.metric(case, "hudsucker-ref", key, field))
            title = CASES[case] if i == 0 else ""
            lines.append(f"| {title} | {label} | {' | '.join(cells)} | {fmt(r, 2)}{'×' if r else ''} |")
    return "\n".join(lines)


def verdicts(res, key):
    out = [
        "| target | required | measured | |",
        "|---|---|---:|---|",
    ]

    def row(name, required, value, ok, digits=2, unit="×"):
        if value is None:
            mark = "—"
        elif ok is None:
            mark = "reference, no target"
        else:
            mark = "met" if ok(value) else "**not met**"
        out.append(f"| {name} | {required} | {fmt(value, digits)}{unit if value is not None else ''} | {mark} |")

    pp = lambda case, field: res.metric(case, "pin-proxy", key, field)
    hs = lambda case, field: res.metric(case, "hudsucker-ref", key, field)
    row("new conn ×16: conn/s vs hudsucker-ref", "≥ 1.0×", ratio(pp("newconn16", "rate"), hs("newconn16", "rate")), lambda v: v >= 1.0)
    row("new conn ×16: CPU per 1000 vs hudsucker-ref", "≤ 0.8×", ratio(pp("newconn16", "cpu_per_1000"), hs("newconn16", "cpu_per_1000")), lambda v: v <= 0.8)
    row("keep-alive ×16: req/s vs hudsucker-ref", "≥ 1.2×", ratio(pp("keepalive16", "rate"), hs("keepalive16", "rate")), lambda v: v >= 1.2)
    row("keep-alive ×16: CPU per 1000 vs hudsucker-ref", "≤ 0.8×", ratio(pp("keepalive16", "cpu_per_1000"), hs("keepalive16", "cpu_per_1000")), lambda v: v <= 0.8)
    row("passthrough keep-alive: req/s vs direct", "≥ 0.60×", ratio(pp("passthrough16", "rate"), res.metric("keepalive16", "direct", key, "rate")), lambda v: v >= 0.6)
    for case in ("newconn16", "keepalive16", "passthrough16", "newconn1", "idle"):
        row(f"peak RSS vs hudsucker-ref: {case}", "≤ 1.2×", ratio(pp(case, "hwm_kb"), hs(case, "hwm_kb")), lambda v: v <= 1.2)
    direct = res.metric("keepalive16", "direct", key, "rate")
    floor = res.metric("passthrough16", "relay-floor", key, "rate")
    row("passthrough keep-alive: relay-floor req/s vs direct", "—", ratio(floor, direct), None)
    row("passthrough keep-alive: pin-proxy req/s vs relay-floor", "—", ratio(pp("passthrough16", "rate"), floor), None)
    idle_n = pp("idle", "connections")
    row(f"{fmt(idle_n, 0)} idle TLS connections: VmRSS", "< 100 MB", pp("idle", "rss_kb"), lambda v: v < 100, 1, " MB")
    row("1 client, new conn: p50 vs hudsucker-ref", "≤ 1.0×", ratio(pp("newconn1", "p50_ms"), hs("newconn1", "p50_ms")), lambda v: v <= 1.0)
    return "\n".join(out)


def command(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}"


def hudsucker_version():
    lock = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Cargo.lock")
    try:
        text = open(lock).read()
    except OSError:
        return "unknown"
    m = re.search(r'name = "hudsucker"\nversion = "([^"]+)"', text)
    return m.group(1) if m else "unknown"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--meta", nargs="*", default=[])
    args = parser.parse_args()
    meta = dict(item.split("=", 1) for item in args.meta)
    max_other = float(meta.get("max_other_percent", 10))
    res = Results(args.results, max_other)
    keys = sorted({k for (_, _, k) in res.groups if k not in ("-",)}, key=lambda k: (k != "ecdsa", k))

    print("# pin-proxy benchmark results\n")
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine()}")
    print(f"- pin-proxy {meta.get('pin_proxy_commit', '?')}, mitmproxy {meta.get('mitmproxy', '?')}, "
          f"hudsucker {hudsucker_version()}, {command('rustc', '--version')}")
    print(f"- rounds: {meta.get('rounds', '?')}, each run {meta.get('warmup_s', '?')} s warm-up + "
          f"{meta.get('duration_s', '?')} s measured; medians over the rounds; MB = 10^6 bytes")
    print("- direct and passthrough forge nothing, so their runs are shared by both key-type tables; "
          "mitmproxy always forges RSA 2048 leaves, so its intercept runs are the same in both")
    n_disturbed, n_rows = res.disturbed_count()
    print(f"- the run's session had scheduling priority nice {meta.get('session_nice', '?')} (autogroup); "
          f"{n_disturbed} of {n_rows} runs were still disturbed (other jobs took more than {max_other:g}% "
          "of the machine's CPU while it was saturated); each cell takes the median of its undisturbed runs, and † "
          "marks a cell that had only disturbed ones")
    for key in keys:
        leaf = {"ecdsa": "ECDSA P-256", "rsa": "RSA 2048"}.get(key, key)
        print(f"\n## Leaf key type: {leaf}\n")
        print(key_table(res, key))
        print(f"\n### Targets ({leaf})\n")
        print(verdicts(res, key))


if __name__ == "__main__":
    main()
