#!/usr/bin/env python3
"""Turns bench/run.sh's measurements (JSON Lines) into the markdown report: the median of each
metric over the rounds per case and target, pin-proxy's ratios, and the project's targets; and,
from the front-doors section, pin-proxy's SOCKS5 and transparent listeners against its HTTP
listener."""

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
DOORS = ["http", "socks5", "transparent"]
# References without a proxy: what the redirect itself costs.
DOOR_REFS = ["direct", "direct-redirected"]
DOOR_NAMES = {"http": "HTTP listener", "socks5": "SOCKS5", "transparent": "transparent",
              "direct": "reference: direct, no proxy",
              "direct-redirected": "reference: direct through a REDIRECT, no proxy"}
DOOR_CASES = {
    "newconn16": ("new connection per request, 16 concurrent", "conn/s"),
    "keepalive16": ("keep-alive, 16 concurrent", "req/s"),
}
# The front doors' target: each at least this share of the HTTP listener's rate.
DOOR_TARGET = 0.95


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
        self.doors = Doors(max_other)
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    if row.get("section") == "front-doors":
                        self.doors.add(row)
                    else:
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
        rows = [r for group in self.groups.values() for r in group] + self.doors.all()
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


class Doors:
    """The front-doors section's runs: (case, door) -> rows. A run whose check found that it did
    not measure its door (door_check other than "ok") is left out of every figure and listed."""

    def __init__(self, max_other):
        self.max_other = max_other
        self.groups = {}
        self.skipped = None
        self.wrong = []

    def add(self, row):
        if "skipped" in row:
            self.skipped = row["skipped"]
        elif row.get("door_check", "ok") != "ok":
            self.wrong.append(row)
        else:
            self.groups.setdefault((row["case"], row["target"]), []).append(row)

    def all(self):
        return [r for group in self.groups.values() for r in group] + self.wrong

    def ran(self):
        return bool(self.groups or self.wrong or self.skipped)

    def rows(self, case, door):
        rows = self.groups.get((case, door), [])
        clean = [r for r in rows if not disturbed(r, self.max_other)]
        return clean or rows

    def metric(self, case, door, field):
        rows = self.rows(case, door)
        if field == "hwm_kb":
            kb = median(r.get(field) for r in rows)
            return None if kb is None else kb * 1024 / 1e6
        return median(r["result"].get(field) for r in rows if not r["result"].get("failed"))

    def round_rate(self, case, door, rnd):
        """A round's rate, chosen as the table's cells are: the median of its undisturbed runs,
        else of all its runs."""
        rows = [r for r in self.groups.get((case, door), []) if r["round"] == rnd]
        clean = [r for r in rows if not disturbed(r, self.max_other)]
        return median(r["result"].get("rate") for r in clean or rows if not r["result"].get("failed"))

    def problems(self, case, door):
        rows = self.rows(case, door)
        errors = sum(r["result"].get("errors") or 0 for r in rows)
        failed = sum(1 for r in rows if r["result"].get("failed"))
        only_disturbed = bool(rows) and all(disturbed(r, self.max_other) for r in rows)
        notes = []
        if errors:
            notes.append(f"{errors} errors")
        if failed:
            notes.append(f"{failed} runs failed")
        return notes, only_disturbed


def doors_section(doors):
    out = ["## Front doors: pin-proxy's HTTP listener, SOCKS5 and transparent\n"]
    if doors.skipped:
        out.append(f"Skipped: {doors.skipped}.")
        return "\n".join(out)
    out.append("The same cases through each of pin-proxy's listeners (ECDSA P-256 leaves), in a "
               "network namespace of the run's own where an iptables `REDIRECT` sends the client's "
               "connections to 10.203.0.1:443 to the transparent listener; the doors take turns "
               "within a round. Target: each door at least "
               f"{DOOR_TARGET:.2f}× the HTTP listener's rate. The references run loadgen without a "
               "proxy, straight to the origin and through a second `REDIRECT` rule to it: their "
               "ratio is what the redirect alone costs a connection on this machine.\n")
    if doors.wrong:
        out.append(f"**{len(doors.wrong)} runs did not measure the door they name, and are left out:**\n")
        for r in doors.wrong:
            out.append(f"- round {r['round']} {r['case']} {r['target']}: {r['door_check']}")
        out.append("")
    out += [
        "| case | front door | rate | CPU s / 1000 | p50 ms | p99 ms | peak RSS MB | rate ÷ HTTP listener | CPU ÷ HTTP listener | ≥ 0.95× the HTTP listener |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rounds_lines = []
    for case, (title, unit) in DOOR_CASES.items():
        http_rate = doors.metric(case, "http", "rate")
        http_cpu = doors.metric(case, "http", "cpu_per_1000")
        for i, door in enumerate(DOORS + DOOR_REFS):
            rate = doors.metric(case, door, "rate")
            cpu = doors.metric(case, door, "cpu_per_1000")
            notes, only_disturbed = doors.problems(case, door)
            cell = fmt(rate, 0) + (f" {unit}" if rate is not None else "")
            if only_disturbed and rate is not None:
                cell += " †"
            if notes:
                cell += f" ({', '.join(notes)})"
            r_rate, r_cpu = ratio(rate, http_rate), ratio(cpu, http_cpu)
            direct = doors.metric(case, "direct", "rate")
            if door == "direct":
                verdict = "—"
            elif door == "direct-redirected":
                d = ratio(rate, direct)
                verdict = f"{fmt(d, 2)}× direct" if d is not None else "—"
            elif door == "http":
                verdict = "the baseline"
            elif r_rate is None:
                verdict = "—"
            else:
                verdict = "met" if r_rate >= DOOR_TARGET else "**not met**"
            cells = [
                title if i == 0 else "", DOOR_NAMES[door], cell,
                fmt(cpu, 3 if case == "newconn16" else 4),
                fmt(doors.metric(case, door, "p50_ms"), 2), fmt(doors.metric(case, door, "p99_ms"), 2),
                fmt(doors.metric(case, door, "hwm_kb"), 1),
                fmt(r_rate, 2) + ("×" if r_rate is not None else ""),
                fmt(r_cpu, 2) + ("×" if r_cpu is not None else ""),
                verdict,
            ]
            if door in DOOR_REFS:
                # No proxy: no proxy CPU or memory, and no door to hold to the target.
                cells[3] = cells[6] = cells[7] = cells[8] = "—"
            out.append("| " + " | ".join(cells) + " |")
            if door in ("socks5", "transparent", "direct-redirected"):
                base = "direct" if door == "direct-redirected" else "http"
                rounds = sorted({r["round"] for r in doors.groups.get((case, door), [])})
                per_round = [ratio(doors.round_rate(case, door, n), doors.round_rate(case, base, n))
                             for n in rounds]
                shown = ", ".join(fmt(v, 2) for v in per_round)
                name = "the redirect alone (direct through a REDIRECT ÷ direct)" \
                    if door == "direct-redirected" else f"{DOOR_NAMES[door]} ÷ HTTP listener"
                rounds_lines.append(f"- {name}, {title}: {shown or '—'}")
    out.append("\nRound by round (each against the run of the same round):\n")
    out += rounds_lines
    return "\n".join(out)


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
    if res.groups:
        print(f"- pin-proxy {meta.get('pin_proxy_commit', '?')}, mitmproxy {meta.get('mitmproxy', '?')}, "
              f"hudsucker {hudsucker_version()}, {command('rustc', '--version')}")
    else:
        print(f"- pin-proxy {meta.get('pin_proxy_commit', '?')}, {command('rustc', '--version')}")
    print(f"- sections: {meta.get('sections', '?')}")
    print(f"- rounds: {meta.get('rounds', '?')}, each run {meta.get('warmup_s', '?')} s warm-up + "
          f"{meta.get('duration_s', '?')} s measured; medians over the rounds; MB = 10^6 bytes")
    if res.groups:
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
    if res.doors.ran():
        print()
        print(doors_section(res.doors))


if __name__ == "__main__":
    main()
