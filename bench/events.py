#!/usr/bin/env python3
"""Events across replicas: the subscribers and the stopwatch of bench/events.sh.

`drive` starts one `subscribe` process per server (so the two halves of the load do not
share one Python event loop), each opening its share of graphql-transport-ws sockets
(one user and session per socket, all watching one family's `accountTreeChanged`). Once
every socket has received a warm-up event, it sends EVENTS mutations through the first
server (`updateLinkedAccount` renaming a secondary: a RENAMED event that travels to the
other server by PostgreSQL LISTEN/NOTIFY), PAUSE seconds apart, and records per event
the time the request was sent and the time its HTTP response arrived; the subscribers
record when each socket received it (CLOCK_MONOTONIC, shared by the processes of one
machine). It reads each server's VmRSS before the sockets open, with them open and at
the end, the servers' CPU (utime + stime) and the CPU of the PostgreSQL backends of
the database over the events, and writes everything to a JSON file.

Run by bench/events.sh; by hand (servers and data as events.sh leaves them):
  python3 bench/events.py drive --http http://127.0.0.1:18131/graphql \
      --ws ws://127.0.0.1:18131/graphql,ws://127.0.0.1:18132/graphql --pids PID1,PID2 \
      --db postgres://postgres@127.0.0.1:5432/canopy_bench_events --tokens FILE --owner-token T \
      --main-id 1 --account-id 2 --events 20 --pause 1 --out /tmp/events.json
Needs the `websockets` package (installed with pip if missing).
"""

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time

try:
    import websockets
    from websockets.asyncio.client import connect
except ImportError:  # a fresh machine: install it once
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "websockets>=13"], check=True)
    import websockets
    from websockets.asyncio.client import connect

SUBSCRIPTION = """subscription Tree($main: ID!) {
  accountTreeChanged(mainAccountId: $main) { kind account { id friendlyName } } }"""
RENAME = """mutation Rename($input: UpdateLinkedAccountInput!) {
  updateLinkedAccount(input: $input) { account { id friendlyName } userErrors { code message } } }"""
TICKS = os.sysconf("SC_CLK_TCK")


def gid(kind, number):
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


# ---------------------------------------------------------------- subscriber process


async def subscriber(url, token, main_gid, index, state, gate):
    """One socket: init, subscribe, then record the receipt time of every event."""
    await gate.acquire()  # a few handshakes at a time
    try:
        ws = await connect(url, subprotocols=["graphql-transport-ws"], max_size=2**20, open_timeout=60,
                           ping_interval=None)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": SUBSCRIPTION, "variables": {"main": main_gid}}}))
        state["subscribed"] += 1
    finally:
        gate.release()
    async with ws:
        received = state["received"][index]
        async for raw in ws:
            now = time.monotonic()
            message = json.loads(raw)
            if message.get("type") != "next":
                state["other"].append(str(raw)[:300])
                if message.get("type") in ("error", "complete"):
                    return
                continue
            data = message["payload"].get("data") or {}
            name = (((data.get("accountTreeChanged") or {}).get("account")) or {}).get("friendlyName") or ""
            if name.startswith("warm-"):
                if not state["warm"][index]:
                    state["warm"][index] = True
                    state["warm_count"] += 1
            elif name.startswith("event-"):
                received.setdefault(int(name.split("-")[1]), now)
            else:
                state["other"].append(str(raw)[:300])


async def subscribe_main(args):
    tokens = [line.strip() for line in open(args.tokens) if line.strip()]
    n = len(tokens)
    state = {"subscribed": 0, "received": [dict() for _ in range(n)], "warm": [False] * n, "warm_count": 0,
             "other": [], "failed": []}
    gate = asyncio.Semaphore(50)  # handshakes at once

    async def one(i):
        try:
            await subscriber(args.url, tokens[i], args.main, i, state, gate)
        except Exception as exc:  # a socket that fails is reported, not fatal here
            state["failed"].append(f"{type(exc).__name__}: {exc}"[:300])

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    while state["subscribed"] + len(state["failed"]) < n:
        await asyncio.sleep(0.05)
    print(json.dumps({"ready": state["subscribed"], "failed": len(state["failed"])}), flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "warm?":
            print(json.dumps({"warm": state["warm_count"]}), flush=True)
        elif line == "stop" or not line:
            break
    for t in tasks:
        t.cancel()
    print(json.dumps({"received": state["received"], "other": state["other"][:20], "failed": state["failed"][:20]}), flush=True)


# ---------------------------------------------------------------- coordinator


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_ms(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICKS  # utime, stime


def db_backends(db):
    out = subprocess.run(["psql", "-XAtq", db, "-c",
                          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"],
                         check=True, capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def backends_cpu(pids):
    total = {}
    for pid in pids:
        try:
            total[pid] = cpu_ms(pid)
        except OSError:
            pass
    return total


def db_xacts(db):
    out = subprocess.run(["psql", "-XAtq", db, "-c",
                          "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] if values else None


async def post(http, token, query, variables):
    """A tiny HTTP/1.1 POST on a fresh connection (one per mutation; they are seconds apart)."""
    host, rest = http.split("//", 1)[1].split("/", 1)
    hostname, port = host.split(":")
    body = json.dumps({"query": query, "variables": variables}).encode()
    reader, writer = await asyncio.open_connection(hostname, int(port))
    writer.write(
        f"POST /{rest} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body
    )
    await writer.drain()
    response = await reader.read()
    writer.close()
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


async def drive_main(args):
    urls, pids = args.ws.split(","), [int(p) for p in args.pids.split(",")]
    tokens = [line.strip() for line in open(args.tokens) if line.strip()]
    share = len(tokens) // len(urls)
    result = {"subscribers": len(tokens), "servers": []}
    rss_before = [rss_kb(p) for p in pids]

    procs = []
    for i, url in enumerate(urls):
        part = f"{args.tokens}.{i}"  # beside the tokens file (a temporary folder)
        with open(part, "w") as f:
            f.write("\n".join(tokens[i * share : (i + 1) * share]) + "\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "subscribe", "--url", url, "--tokens", part, "--main", gid("Account", args.main_id),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26)
        procs.append(proc)
    t_open = time.monotonic()
    ready = [json.loads(await p.stdout.readline()) for p in procs]
    result["open_seconds"] = round(time.monotonic() - t_open, 2)
    result["ready"] = ready
    await asyncio.sleep(2)  # let the servers settle after the handshakes
    rss_open = [rss_kb(p) for p in pids]

    async def ask(proc, line):
        proc.stdin.write((line + "\n").encode())
        await proc.stdin.drain()
        return json.loads(await proc.stdout.readline())

    rename = lambda name: {"input": {"accountId": gid("Account", args.account_id), "friendlyName": name}}
    # Warm-up: until every socket has seen an event (each subscription is live everywhere).
    subscribed = sum(r["ready"] for r in ready)
    for k in range(30):
        await post(args.http, args.owner_token, RENAME, rename(f"warm-{k}"))
        await asyncio.sleep(1)
        warm = sum([(await ask(p, "warm?"))["warm"] for p in procs])
        if warm >= subscribed:
            break
    result["warm_sockets"] = warm
    await asyncio.sleep(1)

    # The servers' CPU with the sockets open and nothing happening (timers, the outbox
    # worker's polls), to subtract from the CPU over the events.
    idle_s = 10.0
    idle_before = [cpu_ms(p) for p in pids]
    await asyncio.sleep(idle_s)
    idle_per_s = [(cpu_ms(p) - b) / idle_s for p, b in zip(pids, idle_before)]

    backends = db_backends(args.db)
    t_events = time.monotonic()
    cpu_before, pg_before, x_before = [cpu_ms(p) for p in pids], backends_cpu(backends), db_xacts(args.db)
    sent, rss_series = {}, []
    for i in range(1, args.events + 1):
        t_sent = time.monotonic()
        res = await post(args.http, args.owner_token, RENAME, rename(f"event-{i}"))
        t_resp = time.monotonic()
        errors = res.get("errors") or (res.get("data") or {}).get("updateLinkedAccount", {}).get("userErrors")
        sent[i] = (t_sent, t_resp, errors or None)
        await asyncio.sleep(args.pause)
        rss_series.append([rss_kb(p) for p in pids])
    await asyncio.sleep(2)  # stragglers
    cpu_after = [cpu_ms(p) for p in pids]
    events_s = time.monotonic() - t_events
    # Backends flush their statistics at most once a second, and an idle one only after
    # 10 s (PostgreSQL 15): wait for the last of them before counting transactions.
    await asyncio.sleep(11)
    x_after = db_xacts(args.db)
    pg_after = backends_cpu(set(backends) | set(db_backends(args.db)))
    rss_end = [rss_kb(p) for p in pids]

    outs = []
    for p in procs:
        p.stdin.write(b"stop\n")
        await p.stdin.drain()
        outs.append(json.loads(await p.stdout.readline()))
        await p.wait()

    after_response, after_send, per_event, per_server = [], [], {}, []
    missing = 0
    for s, out in enumerate(outs):
        mine = []
        per_server.append(mine)
        for socket in out["received"]:
            for i, (t_sent, t_resp, _) in sent.items():
                t = socket.get(str(i))
                if t is None:
                    missing += 1
                    continue
                after_response.append((t - t_resp) * 1000)
                after_send.append((t - t_sent) * 1000)
                mine.append((t - t_resp) * 1000)
                per_event.setdefault(i, []).append((t - t_sent) * 1000)
    ms = lambda v: None if v is None else round(v, 1)
    result.update({
        "events": args.events,
        "pause_s": args.pause,
        "mutation_errors": {i: e for i, (_, _, e) in sent.items() if e},
        "mutation_ms": {"p50": ms(pct([(r - s) * 1000 for s, r, _ in sent.values()], 0.5)),
                        "max": ms(max((r - s) * 1000 for s, r, _ in sent.values()))},
        "deliveries_expected": args.events * len(tokens),
        "deliveries_received": len(after_send),
        "deliveries_missing": missing,
        "after_response_ms": {"p50": ms(pct(after_response, 0.5)), "p99": ms(pct(after_response, 0.99)),
                              "max": ms(max(after_response, default=None))},
        "after_send_ms": {"p50": ms(pct(after_send, 0.5)), "p99": ms(pct(after_send, 0.99)),
                          "max": ms(max(after_send, default=None))},
        "last_delivery_after_send_ms_p50": ms(pct([max(v) for v in per_event.values()], 0.5)),
        "db_transactions_per_delivery": round((x_after - x_before) / max(1, len(after_send)), 2),
        "rss_kb_after_event": {i + 1: v for i, v in enumerate(rss_series)},
        "postgres_cpu_ms": round(sum(pg_after.get(p, 0) - pg_before.get(p, 0) for p in pg_after), 1),
        "other_messages": [m for out in outs for m in out["other"]][:10],
        "failed_sockets": [m for out in outs for m in out["failed"]][:10],
    })
    for i, pid in enumerate(pids):
        n = ready[i]["ready"] if i < len(ready) else 0
        result["servers"].append({
            "pid": pid,
            "sockets": n,
            "rss_before_kb": rss_before[i],
            "rss_open_kb": rss_open[i],
            "rss_end_kb": rss_end[i],
            "kb_per_subscriber": round((rss_open[i] - rss_before[i]) / max(1, n), 1),
            "after_response_ms": {"p50": ms(pct(per_server[i], 0.5)), "p99": ms(pct(per_server[i], 0.99)),
                                  "deliveries": len(per_server[i])},
            "cpu_ms_events": round(cpu_after[i] - cpu_before[i], 1),
            "cpu_ms_idle_same_time": round(idle_per_s[i] * events_s, 1),
            "cpu_ms_events_net": round(cpu_after[i] - cpu_before[i] - idle_per_s[i] * events_s, 1),
        })
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("deliveries_expected", "deliveries_received", "after_response_ms",
                                             "after_send_ms")}), file=sys.stderr)


def report(args):
    import datetime
    r = json.load(open(args.json))
    n, e = r["subscribers"], r["events"]
    print(f"# Events across two replicas ({datetime.date.today()}, {os.cpu_count()} cores)")
    print()
    print(f"{n:,} graphql-transport-ws subscribers (a user and session each, members of one family's Default Group), "
          f"{n // len(r['servers'])} on each of two `canopy serve` processes sharing one PostgreSQL database, all subscribed "
          f"to `accountTreeChanged` of that family. {e} mutations (`updateLinkedAccount` renaming a secondary, a RENAMED "
          f"event) through the first server, {r['pause_s']:g} s apart; the event reaches the second server by LISTEN/NOTIFY. "
          "Servers, subscribers (two Python processes, one per server) and PostgreSQL share the machine.")
    print()
    print(f"Deliveries: {r['deliveries_received']:,} received of {r['deliveries_expected']:,} expected "
          f"({r['deliveries_missing']} missing); sockets opened in {r['open_seconds']} s, "
          f"{r['warm_sockets']} of {n} live before the measured events. Mutation round trip: p50 {r['mutation_ms']['p50']} ms, max {r['mutation_ms']['max']} ms.")
    print()
    print("| delivery time, over all deliveries | p50 ms | p99 ms | max ms |")
    print("| --- | --- | --- | --- |")
    for key, label in (("after_response_ms", "receipt − the mutation's HTTP response arrived"),
                       ("after_send_ms", "receipt − the mutation was sent")):
        v = r[key]
        print(f"| {label} | {v['p50']} | {v['p99']} | {v['max']} |")
    for i, srv in enumerate(r["servers"]):
        v = srv.get("after_response_ms")
        if v:
            name = "A, where the mutation ran" if i == 0 else "B, the other replica"
            print(f"| of which the {v['deliveries']:,} on server {name} | {v['p50']} | {v['p99']} | |")
    print()
    print(f"The last of the {n:,} subscribers had an event {r['last_delivery_after_send_ms_p50']} ms after its mutation was sent (median over the events).")
    print()
    print("| server | sockets | VmRSS before the sockets | with the sockets open | after the events | per subscriber | CPU over the events | of which idle | CPU per delivery (net of idle) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    per_server = r["deliveries_received"] / max(1, len(r["servers"]))
    for i, srv in enumerate(r["servers"]):
        print(f"| {'A (takes the mutations)' if i == 0 else 'B (events by NOTIFY)'} | {srv['sockets']} | "
              f"{srv['rss_before_kb'] / 1024:.1f} MB | {srv['rss_open_kb'] / 1024:.1f} MB | {srv['rss_end_kb'] / 1024:.1f} MB | "
              f"{srv['kb_per_subscriber']} kB | {srv['cpu_ms_events']:.0f} ms | {srv['cpu_ms_idle_same_time']:.0f} ms | "
              f"{srv['cpu_ms_events_net'] / max(1, per_server) * 1000:.0f} µs |")
    series = r.get("rss_kb_after_event", {})
    if series:
        picks = [k for k in sorted(series, key=int) if int(k) in (1, e // 2, e)]
        print()
        print("VmRSS after event " + ", ".join(
            f"{k}: " + " / ".join(f"{v / 1024:.1f}" for v in series[k]) + " MB" for k in picks) + " (server A / server B).")
    print()
    print(f"PostgreSQL backends of the database over the events: {r['postgres_cpu_ms']:.0f} ms CPU, "
          f"{r['db_transactions_per_delivery']} transactions (one statement each) per delivery (pg_stat_database): every delivery checks the "
          "subscriber's session again (`subscriber_now`, the session query with its group grants) and reads the changed "
          "accounts (`read::events::tree_change`), so one event costs 2 statements per subscriber. "
          f"Server CPU per event, net of idle: {sum(s['cpu_ms_events_net'] for s in r['servers']) / max(1, e):.0f} ms "
          f"for {n:,} deliveries (both servers together; the mutation itself is a small part of it).")
    if args.pgbench:
        tps = open(args.pgbench).read().split()[0]
        print()
        print(f"The database's share, by pgbench: the two statements of one delivery (bench/events_delivery.sql: the "
              f"session by id with its grants, then the two accounts of the change), prepared, 16 clients (the two servers' "
              f"pools): {float(tps):,.0f} deliveries/s, so {n / float(tps) * 1000:.0f} ms of database time for the {n:,} "
              "deliveries of one event on this machine, before any server work.")
    if r["mutation_errors"] or r["other_messages"] or r["failed_sockets"]:
        print()
        print("Unexpected: " + json.dumps({k: r[k] for k in ("mutation_errors", "other_messages", "failed_sockets")}))
    lines = open(args.warnings).read().splitlines() if args.warnings and os.path.exists(args.warnings) else []
    print()
    print(f"Server log lines at WARN or ERROR: {len(lines)}" + (":" if lines else "."))
    for line in lines[:10]:
        print(f"    {line[:300]}")
    print()
    print(f"Command: `{args.command}`")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("subscribe")
    s.add_argument("--url", required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--main", required=True)
    d = sub.add_parser("drive")
    for name in ("--http", "--ws", "--pids", "--db", "--tokens", "--owner-token", "--out"):
        d.add_argument(name, required=True)
    d.add_argument("--main-id", type=int, required=True)
    d.add_argument("--account-id", type=int, required=True)
    d.add_argument("--events", type=int, default=20)
    d.add_argument("--pause", type=float, default=1.0)
    rep = sub.add_parser("report")
    rep.add_argument("--json", required=True)
    rep.add_argument("--warnings")
    rep.add_argument("--pgbench")
    rep.add_argument("--command", default="bench/events.sh")
    args = parser.parse_args()
    if args.mode == "report":
        report(args)
    else:
        asyncio.run(subscribe_main(args) if args.mode == "subscribe" else drive_main(args))


if __name__ == "__main__":
    main()
