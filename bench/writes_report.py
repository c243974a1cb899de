#!/usr/bin/env python3
"""Tables for bench/writes.sh.

  writes_report.py --pgbench DIR     # DIR holds pgbench.out and pgb.* logs: prints "tx/s p50_ms p99_ms"
  writes_report.py --runs-dir DIR --runs N ...   # prints bench/results/writes.md from DIR/run*.json, DIR/pgbench.txt
"""

import argparse
import datetime
import glob
import json
import os
import re
import statistics

NAMES = {"pay": "payInvoices", "link": "linkAccount", "detach": "detachAccount"}
PHASES = ["detach", "link", "pay", "mixed"]


def pgbench_stats(tmp):
    out = open(f"{tmp}/pgbench.out").read()
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    # Per-transaction log: client_id transaction_no time_us script_no epoch epoch_us
    lat = sorted(int(line.split()[2]) / 1000 for f in glob.glob(f"{tmp}/pgb.*") for line in open(f))
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    return f"{tps:.1f} {pct(0.5):.1f} {pct(0.99):.1f}"


def statements(log_path):
    """One request of each mutation from a statement log (CAPTURE=1, one worker): the
    statements from its session lookup to the next request's, with their parameters."""
    requests, current = [], None
    for line in open(log_path):
        m = re.match(r"^\S+ \S+ UTC \[(\d+)\] \S+ (LOG|DETAIL):  (.*)$", line.rstrip("\n"))
        if not m:
            continue
        pid, kind, text = m.groups()
        if kind == "LOG" and 'FROM "sessions"' in text:
            current = []
            requests.append(current)
        if current is not None:
            current.append(f"[backend {pid}] {text}")
    def kind(request):
        text = "\n".join(request)
        if '"payments"' in text:
            return "payInvoices" + (" (replay: the key's payment found first)" if 'INSERT INTO "payments"' not in text else "")
        if "proof_failures" in text:
            return "linkAccount" if "account.linked" in text else "linkAccount (refused)"
        if "account.detached" in text:
            return "detachAccount"
        return None
    seen = {}
    for request in requests:
        k = kind(request)
        if k and k not in seen:
            seen[k] = request
    print("# The SQL the server runs per mutation")
    print()
    print("Captured by `CAPTURE=1 bench/writes.sh` (log_statement = 'all' on the bench database for one")
    print("worker and one second of each mutation): one request of each kind, from its session")
    print("lookup on, as PostgreSQL logged it (`execute` = a prepared statement; DETAIL = its")
    print("parameters). The pgbench scripts bench/writes_*.sql run these statements.")
    for k in sorted(seen):
        print()
        print(f"## {k}")
        print()
        for line in seen[k]:
            print("    " + line)


def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def report(a):
    data = []
    for i in range(1, a.runs + 1):
        run = {"phases": {}, "totals": {}}
        for phase in PHASES:
            part = json.load(open(f"{a.runs_dir}/run{i}-{phase}.json"))
            run["phases"][phase] = part["phases"][phase]
            for k, v in part["totals"].items():
                run["totals"][k] = run["totals"].get(k, 0) + v
        data.append(run)
    pg = {}
    for line in open(f"{a.runs_dir}/pgbench.txt"):
        run, phase, tps, p50, p99, done = line.split()
        pg.setdefault(phase, []).append((float(tps), float(p50), float(p99), int(done)))
    pgm = lambda phase, k: med([row[k] for row in pg[phase]])

    print(f"# Writes under contention ({datetime.date.today()}, {os.cpu_count()} cores, median of {a.runs} runs of {a.duration:g} s per phase)")
    print()
    accounts = a.families * (a.secondaries + 1) + a.standalone
    print(
        f"Data: {a.families:,} families of a main and {a.secondaries} secondaries, {a.standalone:,} standalone accounts "
        f"to link, {a.invoices} invoices per account ({accounts * a.invoices:,} invoices; the seed marks every third paid). "
        f"{a.workers} connections (bench/writes.py, one keep-alive connection per thread). Half of the operations go to a "
        "hot set of 4 families that moves on every second; 10% of payments repeat an earlier or in-flight idempotency "
        "key; 10% of links race another worker's link of the same account. Phases run one after the other: each "
        "mutation alone, then the three mixed (pay 2 : link 1 : detach 1)."
    )
    print()
    print(
        "Server, load generator and PostgreSQL share the machine. Ceiling: pgbench running the statements the server "
        f"runs for each mutation (bench/writes_*.sql, `-M prepared`, {a.workers} clients, same duration); see "
        "bench/README.md for how faithful each script is. Latencies are per request (driver) and per script run (pgbench)."
    )
    print()
    print("| phase | mutation | server answers/s | of which successes/s | p50 ms | p99 ms | pgbench tx/s | pgbench p50 ms | pgbench p99 ms | server / pgbench |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for phase in PHASES:
        ops = data[0]["phases"][phase]["ops"]
        for op in ops:
            col = lambda k: med([d["phases"][phase]["ops"][op][k] for d in data])
            row = [phase, NAMES[op], col("answers_per_s"), col("ok_per_s"), col("p50_ms"), col("p99_ms")]
            if phase != "mixed":
                tps = pgm(phase, 0)
                row += [tps, pgm(phase, 1), pgm(phase, 2), f"{col('answers_per_s') / tps:.0%}"]
            else:
                row += ["", "", "", ""]
            print("| " + " | ".join("" if x is None else str(x) for x in row) + " |")
    total = med([sum(o["answers_per_s"] for o in d["phases"]["mixed"]["ops"].values()) for d in data])
    tps = pgm("mixed", 0)
    print(f"| mixed | all three | {total} | | | | {tps} | {pgm('mixed', 1)} | {pgm('mixed', 2)} | {total / tps:.0%} |")
    print()
    print("Answers by outcome, summed over the runs: successes (payments: of which replays of a key), refusals in `userErrors`, GraphQL `errors` by `extensions.code`:")
    print()
    print("| phase | mutation | answers | ok | of which replayed | refusals | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for phase in PHASES:
        for op in data[0]["phases"][phase]["ops"]:
            rs = [d["phases"][phase]["ops"][op] for d in data]
            ref, err = {}, {}
            for r in rs:
                for k, v in r["refusals"].items():
                    ref[k] = ref.get(k, 0) + v
                for k, v in r["errors"].items():
                    err[k] = err.get(k, 0) + v
            fmt = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"
            replayed = sum(r["replayed"] for r in rs) if op == "pay" else ""
            print(f"| {phase} | {NAMES[op]} | {sum(r['answers'] for r in rs)} | {sum(r['ok'] for r in rs)} | {replayed} | {fmt(ref)} | {fmt(err)} |")
    samples = sorted({s for d in data for p in d["phases"].values() for o in p["ops"].values() for s in o["error_samples"]})
    if samples:
        print()
        print("GraphQL error messages seen (first few per phase): " + "; ".join(f"`{s}`" for s in samples))
    print()
    print("Consistency check after each phase of each run (bench/writes_check.sql): passed every time (the script stops otherwise). Per run, summed over its phases:")
    print()
    print("| run | payments made (not replays) = `payment.settled` rows = new payments | invoices paid = new allocations = invoices newly PAID | links = `account.linked` rows | detaches = `account.detached` rows | idempotency keys answered more than once (all with the first payment) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for i, d in enumerate(data, 1):
        t = d["totals"]
        print(f"| {i} | {t['payment.settled']} | {t['invoices_paid']} | {t['account.linked']} | {t['account.detached']} | {t['keys_replayed']} |")
    print()
    print("pgbench transactions that took the success path (audit rows written) per phase, median over runs: " + ", ".join(
        f"{p} {med([row[3] / max(1.0, row[0] * a.duration) * 100 for row in pg[p]]):.0f}%" for p in PHASES
    ) + "; the rest found the target taken (the refusal path, rolled back), as the server's refusals do.")
    warnings = f"{a.runs_dir}/server-warnings.txt"
    lines = open(warnings).read().splitlines() if os.path.exists(warnings) else []
    print()
    print(f"Server log lines at WARN or ERROR during the bench: {len(lines)}" + (":" if lines else "."))
    for line in lines[:10]:
        print(f"    {line[:300]}")
    print()
    print(f"Command: `{a.command}`")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pgbench")
    p.add_argument("--statements")
    p.add_argument("--runs-dir")
    p.add_argument("--runs", type=int)
    p.add_argument("--duration", type=float)
    p.add_argument("--workers", type=int)
    p.add_argument("--families", type=int)
    p.add_argument("--secondaries", type=int)
    p.add_argument("--invoices", type=int)
    p.add_argument("--standalone", type=int)
    p.add_argument("--command", default="bench/writes.sh")
    a = p.parse_args()
    if a.pgbench:
        print(pgbench_stats(a.pgbench))
    elif a.statements:
        statements(a.statements)
    else:
        report(a)


if __name__ == "__main__":
    main()
