#!/usr/bin/env python3
"""Writes under contention: the load generator of bench/writes.sh.

32 worker threads (one keep-alive HTTP connection each) drive payInvoices, linkAccount
and detachAccount against a running Canopy server over the families bench/writes.sh
seeded, in phases (each mutation alone, then a mix of the three), and write what
happened to a JSON file: per phase and mutation the answers per second, p50/p99/max
latency, successes and refusals by code, GraphQL errors; and in total the successes the
consistency check (bench/writes_check.sql) compares with the audit log.

Contention is deliberate: half of the operations go to a "hot" set of 4 families that
moves on every second, so several workers pay the same family's invoices, detach the
same secondaries and link into the same main at once; some link attempts reuse an
account another worker is linking right now ("concurrent attaches of one account:
exactly one wins"); some payments repeat an earlier (or in-flight) idempotency key,
which must answer the first payment and pay nothing twice. Each family's state is read
from the database at the start of a phase and kept up to date from the answers.

Run by bench/writes.sh; by hand (server and data as writes.sh leaves them):
  python3 bench/writes.py --url http://127.0.0.1:18121/graphql --db postgres://postgres@127.0.0.1:5432/canopy_bench_writes \
      --owner-salt SALT --staff-token TOKEN --phases detach,link,pay,mixed --duration 15 --out /tmp/run.json
Only the standard library (and psql on PATH for reading ids).
"""

import argparse
import base64
import collections
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

HOT_FAMILIES = 4  # families in the hot set at any moment
HOT_SHARE = 0.5  # share of operations that go to the hot set
HOT_PERIOD_S = 1.0  # the hot set moves on this often
REPLAY_SHARE = 0.10  # payments that repeat an earlier or in-flight idempotency key
CONTEST_SHARE = 0.10  # links that race another worker's link of the same account
MIX = [("pay", 0.5), ("link", 0.25), ("detach", 0.25)]  # the mixed phase

PAY = """mutation Pay($input: PayInvoicesInput!) {
  payInvoices(input: $input) { replayed payment { id amountCents } userErrors { code message } } }"""
LINK = """mutation Link($input: LinkAccountInput!) {
  linkAccount(input: $input) { account { id } userErrors { code message } } }"""
DETACH = """mutation Detach($input: DetachAccountInput!) {
  detachAccount(input: $input) { account { id } userErrors { code message } } }"""
TOKENS = """query Tokens($ids: [ID!]!) { nodes(ids: $ids) { ... on Account { id enrollmentToken } } }"""


def gid(kind, number):
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def ungid(value):
    padded = value + "=" * (-len(value) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1])


def customer_number(account_id):
    return str(9000000000 + account_id)


def psql_rows(db, sql):
    out = subprocess.run(["psql", "-XAtq", "-F", "\t", db, "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


class Client:
    """One keep-alive HTTP/1.1 connection, reopened if the server closes it."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/graphql"
        self.conn = None

    def post(self, token, query, variables):
        body = json.dumps({"query": query, "variables": variables})
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.conn.request("POST", self.path, body, headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.status != 200:
                    return {"errors": [{"message": f"HTTP {response.status}", "extensions": {"code": f"HTTP_{response.status}"}}]}
                return json.loads(data)
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")


class Stats:
    """What one mutation did in one phase."""

    def __init__(self):
        self.latencies_ms = []
        self.ok = 0
        self.replayed = 0
        self.refusals = collections.Counter()
        self.errors = collections.Counter()
        self.error_samples = []

    def answer(self, ms):
        self.latencies_ms.append(ms)

    def error(self, response):
        for err in response.get("errors", []):
            code = (err.get("extensions") or {}).get("code", "NO_CODE")
            self.errors[code] += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(err.get("message", "")[:300])

    def summary(self, seconds):
        lat = sorted(self.latencies_ms)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None

        n = len(lat)
        return {
            "answers": n,
            "answers_per_s": round(n / seconds, 1),
            "ok": self.ok,
            "ok_per_s": round(self.ok / seconds, 1),
            "replayed": self.replayed,
            "refusals": dict(self.refusals),
            "errors": dict(self.errors),
            "error_samples": self.error_samples,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": round(lat[-1], 1) if lat else None,
        }


class World:
    """The driver's view of the families, kept under one lock."""

    def __init__(self, db, owner_salt):
        self.lock = threading.Lock()
        self.db = db
        owners = psql_rows(db, "SELECT home_account_id FROM users WHERE login_key LIKE 'benchowner%' ORDER BY home_account_id")
        self.families = [int(r[0]) for r in owners]
        self.family_set = set(self.families)
        self.owner_token = {m: f"cnp_bench_{owner_salt}_{m}" for m in self.families}
        self.tokens = {}  # account -> enrollment token (as staff read it)
        self.pay_keys = collections.defaultdict(list)  # (main, key) -> [(payment id, replayed)]
        self.invoices_paid = 0
        self.totals = collections.Counter()

    def load(self):
        """Reads the families, their open invoices and the standalone accounts afresh."""
        with self.lock:
            self.members = {m: set() for m in self.families}
            self.parent_of = {}
            for acc, parent in psql_rows(self.db, "SELECT id, parent_id FROM accounts WHERE parent_id IS NOT NULL"):
                acc, parent = int(acc), int(parent)
                if parent in self.members:
                    self.members[parent].add(acc)
                    self.parent_of[acc] = parent
            self.open_of = collections.defaultdict(set)  # account -> open invoice ids
            self.account_of = {}
            for inv, acc in psql_rows(
                self.db, "SELECT id, account_id FROM invoices WHERE status = 'OPEN' AND collective_invoice_id IS NULL"
            ):
                self.open_of[int(acc)].add(int(inv))
                self.account_of[int(inv)] = int(acc)
            # Standalone accounts that are not one of the families' mains: what links attach.
            pool = psql_rows(
                self.db,
                "SELECT a.id FROM accounts a WHERE a.parent_id IS NULL AND a.status = 'ACTIVE' "
                "AND NOT EXISTS (SELECT 1 FROM accounts c WHERE c.parent_id = a.id) "
                "AND NOT EXISTS (SELECT 1 FROM users u WHERE u.login_key LIKE 'benchowner%' AND u.home_account_id = a.id)",
            )
            self.pool = [int(r[0]) for r in pool]
            self.hot_offset = random.randrange(len(self.families))  # fresh hot families each phase
            self.linking = collections.deque(maxlen=64)  # accounts being linked right now
            self.recent_pays = collections.deque(maxlen=256)  # (main, key, invoice ids)

    def family(self, started):
        if random.random() < HOT_SHARE:
            epoch = int((time.monotonic() - started) / HOT_PERIOD_S)
            hot = self.hot_offset + epoch * HOT_FAMILIES + random.randrange(HOT_FAMILIES)
            return self.families[hot % len(self.families)]
        return random.choice(self.families)

    def family_accounts(self, main):
        return [main, *self.members[main]]


def prefetch_tokens(world, client, staff_token, accounts):
    """Staff read the current enrollment token of each account (100 per request)."""
    accounts = list(accounts)
    for i in range(0, len(accounts), 100):
        batch = accounts[i : i + 100]
        res = client.post(staff_token, TOKENS, {"ids": [gid("Account", a) for a in batch]})
        for node in (res.get("data") or {}).get("nodes") or []:
            if node and node.get("enrollmentToken"):
                world.tokens[ungid(node["id"])] = node["enrollmentToken"]


def user_errors(payload):
    return [e["code"] for e in (payload or {}).get("userErrors", [])]


def do_pay(world, client, stats, started):
    with world.lock:
        replay = random.random() < REPLAY_SHARE and world.recent_pays
        if replay:
            main, key, ids = random.choice(world.recent_pays)
        else:
            for _ in range(20):
                main = world.family(started)
                open_ids = [i for a in world.family_accounts(main) for i in world.open_of.get(a, ())]
                if open_ids:
                    break
            else:
                return False
            ids = random.sample(open_ids, min(random.randint(1, 3), len(open_ids)))
            key = str(uuid.uuid4())
            world.recent_pays.append((main, key, ids))
    variables = {"input": {"invoiceIds": [gid("Invoice", i) for i in ids], "idempotencyKey": key}}
    t0 = time.perf_counter()
    res = client.post(world.owner_token[main], PAY, variables)
    stats.answer((time.perf_counter() - t0) * 1000)
    payload = (res.get("data") or {}).get("payInvoices")
    if res.get("errors"):
        stats.error(res)
        return True
    codes = user_errors(payload)
    with world.lock:
        if payload and payload.get("payment"):
            stats.ok += 1
            payment_id = ungid(payload["payment"]["id"])
            world.pay_keys[(main, key)].append((payment_id, bool(payload["replayed"])))
            if payload["replayed"]:
                stats.replayed += 1
            else:
                world.totals["payments"] += 1
                world.invoices_paid += len(ids)
        for code in codes:
            stats.refusals[code] += 1
        if (payload and payload.get("payment")) or "ALREADY_PAID" in codes:
            for i in ids:
                world.open_of.get(world.account_of.get(i), set()).discard(i)
    return True


def do_link(world, client, stats, started, staff_token):
    with world.lock:
        main = world.family(started)
        contested = random.random() < CONTEST_SHARE and world.linking
        if contested:
            acc = random.choice(world.linking)
        else:
            if not world.pool:
                return False
            j = random.randrange(len(world.pool))
            world.pool[j], world.pool[-1] = world.pool[-1], world.pool[j]
            acc = world.pool.pop()
            world.linking.append(acc)
        token = world.tokens.get(acc)
    if token is None:  # an account detached during this phase: staff read its new token
        prefetch_tokens(world, client, staff_token, [acc])
        world.totals["token_reads_in_phase"] += 1
        token = world.tokens.get(acc, "NONE-NONE")
    variables = {
        "input": {
            "mainAccountId": gid("Account", main),
            "proof": {"enrollmentToken": {"customerNumber": customer_number(acc), "token": token}},
            "friendlyName": f"Linked {acc}",
        }
    }
    t0 = time.perf_counter()
    res = client.post(world.owner_token[main], LINK, variables)
    stats.answer((time.perf_counter() - t0) * 1000)
    if res.get("errors"):
        stats.error(res)
    payload = (res.get("data") or {}).get("linkAccount")
    codes = user_errors(payload)
    with world.lock:
        for code in codes:
            stats.refusals[code] += 1
        if payload and payload.get("account") and not codes:
            stats.ok += 1
            world.totals["links"] += 1
            world.members[main].add(acc)
            world.parent_of[acc] = main
            world.tokens.pop(acc, None)  # a link bumps the token version
        elif not contested and acc not in world.parent_of:
            world.tokens.pop(acc, None)  # read it again before the next try
            world.pool.append(acc)
    return True


def do_detach(world, client, stats, started):
    with world.lock:
        for _ in range(20):
            main = world.family(started)
            if world.members[main]:
                break
        else:
            return False
        acc = random.choice(list(world.members[main]))
    variables = {"input": {"accountId": gid("Account", acc), "expectedParentId": gid("Account", main)}}
    t0 = time.perf_counter()
    res = client.post(world.owner_token[main], DETACH, variables)
    stats.answer((time.perf_counter() - t0) * 1000)
    if res.get("errors"):
        stats.error(res)
    payload = (res.get("data") or {}).get("detachAccount")
    codes = user_errors(payload)
    with world.lock:
        for code in codes:
            stats.refusals[code] += 1
        if payload is not None and not codes and not res.get("errors"):
            stats.ok += 1
            world.totals["detaches"] += 1
            world.members[main].discard(acc)
            world.parent_of.pop(acc, None)
            world.tokens.pop(acc, None)  # a detach bumps the token version
            world.pool.append(acc)
    return True


def run_phase(world, args, name, ops):
    world.load()
    if any(op == "link" for op, _ in ops):
        # Tokens of the accounts that may be linked, read by staff before the clock runs.
        prefetch_tokens(world, Client(args.url), args.staff_token, world.pool)
    stats = {op: Stats() for op, _ in ops}
    started = time.monotonic()
    deadline = started + args.duration
    names, weights = [op for op, _ in ops], [w for _, w in ops]

    def worker():
        client = Client(args.url)
        while time.monotonic() < deadline:
            op = random.choices(names, weights)[0]
            if op == "pay":
                did = do_pay(world, client, stats[op], started)
            elif op == "link":
                did = do_link(world, client, stats[op], started, args.staff_token)
            else:
                did = do_detach(world, client, stats[op], started)
            if not did:
                time.sleep(0.01)

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    result = {"seconds": round(seconds, 2), "ops": {op: s.summary(seconds) for op, s in stats.items()}}
    print(f"   {name}: " + ", ".join(f"{op} {r['answers_per_s']}/s ok {r['ok']} p99 {r['p99_ms']} ms" for op, r in result["ops"].items()), file=sys.stderr)
    return result


PHASES = {
    "pay": [("pay", 1.0)],
    "link": [("link", 1.0)],
    "detach": [("detach", 1.0)],
    "mixed": MIX,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--owner-salt", required=True)
    parser.add_argument("--staff-token", required=True)
    parser.add_argument("--phases", default="detach,link,pay,mixed")
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    world = World(args.db, args.owner_salt)
    result = {"workers": args.workers, "families": len(world.families), "phases": {}}
    for name in args.phases.split(","):
        result["phases"][name] = run_phase(world, args, name, PHASES[name])

    # Idempotency as the driver saw it: per key, at most one answer that is not a replay,
    # and every answer names the same payment.
    violations = []
    for (main, key), answers in world.pay_keys.items():
        firsts = sum(1 for _, replayed in answers if not replayed)
        if firsts > 1 or len({pid for pid, _ in answers}) > 1:
            violations.append(f"idempotency key {key} of family {main}: answers {answers}")
    result["totals"] = {
        "payment.settled": world.totals["payments"],
        "account.linked": world.totals["links"],
        "account.detached": world.totals["detaches"],
        "invoices_paid": world.invoices_paid,
        "keys_replayed": sum(1 for a in world.pay_keys.values() if len(a) > 1),
        "token_reads_in_phase": world.totals["token_reads_in_phase"],
    }
    result["violations"] = violations
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
