"""9. Revocation latency: from the commit of a key's deactivation to a 401 from every gunicorn worker.

Each key is first pulled until every worker has accepted it (so that a worker keeping what it learnt of a key would
hold it), then deactivated: deleted as the API Keys tab does (actions.deactivate_key, committed here), reported
as leaked (POST /api/v1/credentials/revoke), or rolled with a half-second overlap whose end is the moment it stops.
Then one thread per worker probes with the key, each probe on a fresh connection (sync workers close every
connection), until every worker has refused it three times; gunicorn's access log, with the worker's pid and the
probe's number on each line, says which worker answered each probe.

A deactivation's latency runs from just before its commit (the report's sending; the roll's end) to the answer of
the last worker's first 401. Pulls accepted though sent after the commit returned are counted; any accepted more
than MAX_GOAL_MS after it misses the goal.
"""

import http.client
import itertools
import json
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask

from bench.harness import PEPPER, Result, Server, Sizes
from bench.load import percentile

ME = "/api/v1/me"
PROBE_HEADER = "X-Bench-Probe"
ACCESS_LOG_FORMAT = "%(p)s %({x-bench-probe}i)s %(s)s"
P99_GOAL_MS, MAX_GOAL_MS = 100, 1000
GIVE_UP_SECONDS = 5.0  # a worker still accepting the key this long after its commit never refused it
ROLL_OVERLAP = timedelta(milliseconds=500)


@dataclass
class Probe:
    sent: float
    answered: float
    status: int
    pid: int = 0


class Prober:
    """Probes with one key at a time from one thread per worker, each probe on a fresh connection, and the worker
    that answered each, read from gunicorn's access log."""

    def __init__(self, server: Server, access_log: Path):
        self.server = server
        self.access_log = access_log.open()
        self.unread = ""
        self.answered_by: dict[int, int] = {}  # probe number -> worker pid
        self.numbers = itertools.count(1)
        self.sent = 0

    def close(self) -> None:
        self.access_log.close()

    def probe(self, key: str, number: int) -> Probe:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            sent = time.time()
            connection.request("GET", ME, headers={"x-api-key": key, PROBE_HEADER: str(number)})
            response = connection.getresponse()
            response.read()
            return Probe(sent, time.time(), response.status)
        finally:
            connection.close()

    def probing(self, key: str, enough, seconds: float) -> list[Probe]:
        """Probe with `key` until `enough(probes)` holds for the probes whose worker is known, or for `seconds`;
        every probe sent, each with its worker."""
        lock, stop = threading.Lock(), threading.Event()
        sent: dict[int, Probe] = {}

        def prober():
            while not stop.is_set():
                number = next(self.numbers)
                probe = self.probe(key, number)
                with lock:
                    sent[number] = probe

        threads = [threading.Thread(target=prober, daemon=True) for _ in self.server.workers()]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.read_access_log()
                with lock:
                    named = [probe for number, probe in sent.items() if self.named(number, probe)]
                if enough(named):
                    break
                time.sleep(0.002)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        deadline = time.monotonic() + 10
        while not all(self.named(number, probe) for number, probe in sent.items()):  # logged after the answer
            if time.monotonic() > deadline:
                raise SystemExit("bench: probes missing from gunicorn's access log")
            time.sleep(0.002)
            self.read_access_log()
        self.sent += len(sent)
        return list(sent.values())

    def named(self, number: int, probe: Probe) -> bool:
        """Whether the worker that answered the probe is known (from the access log)."""
        if not probe.pid and number in self.answered_by:
            probe.pid = self.answered_by.pop(number)
        return bool(probe.pid)

    def read_access_log(self) -> None:
        self.unread += self.access_log.read()
        *lines, self.unread = self.unread.split("\n")
        for line in lines:
            pid, number, _ = line.split()
            if number != "-":
                self.answered_by[int(number)] = int(pid.strip("<>"))

    def accepted_everywhere(self, key: str) -> None:
        """Pull with `key` until every worker has accepted it."""
        workers = set(self.server.workers())
        probes = self.probing(key, lambda probes: workers <= {probe.pid for probe in probes}, 30)
        if refused := [probe.status for probe in probes if probe.status != 200]:
            raise SystemExit(f"bench: a working key got {refused}")
        if missing := workers - {probe.pid for probe in probes}:
            raise SystemExit(f"bench: workers {missing} answered no probe in 30 s")

    def watch(self, key: str, since: float, committed: float) -> dict:
        """Probe until every worker has refused `key` three times: the latency from `since` to the last worker's
        first 401 (None if one never refused it in GIVE_UP_SECONDS), and the pulls accepted though sent after
        `committed`."""
        workers = set(self.server.workers())

        def refusals(probes) -> Counter:
            return Counter(probe.pid for probe in probes if probe.status == 401 and probe.answered >= since)

        probes = self.probing(key, lambda probes: all(refusals(probes)[pid] >= 3 for pid in workers),
                              committed + GIVE_UP_SECONDS - time.time())
        first_refusal = {}
        for probe in sorted(probes, key=lambda probe: probe.answered):
            if probe.status == 401 and probe.answered >= since:
                first_refusal.setdefault(probe.pid, probe.answered)
        refused_everywhere = workers <= first_refusal.keys()
        return {
            "latency_ms": (max(first_refusal.values()) - since) * 1000 if refused_everywhere else None,
            "first_refusal_ms": {pid: (answered - since) * 1000 for pid, answered in first_refusal.items()},
            "probes_answered": dict(Counter(probe.pid for probe in probes)),
            # What a refused pull itself takes (an audit row and its commit): the latency includes one.
            "refused_pull_ms": statistics.median((probe.answered - probe.sent) * 1000 for probe in probes
                                                 if probe.status == 401) if first_refusal else None,
            "accepted_after_ms": [(probe.answered - committed) * 1000 for probe in probes
                                  if probe.status == 200 and probe.sent >= committed],
            "other_statuses": dict(Counter(probe.status for probe in probes if probe.status not in (200, 401))),
            "workers": len(workers),
        }


def kinds(count: int) -> dict[str, int]:
    """How many deactivations of each kind: a twelfth (at least 2) each are leak reports and roll ends."""
    others = max(2, count // 12)
    return {"delete": count - 2 * others, "leak report": others, "roll end": others}


def measure(app: Flask, env: dict, worker_class: str, production: bool, sizes: Sizes, temp: Path) -> Result:
    from floqast.accounts.models import User
    from floqast.extensions import db
    from floqast.keys.models import ApiKey, Service

    planned = kinds(sizes.revocations)
    with app.app_context():
        admin = User.by_email("admin@bench.test")
        issued = [ApiKey.issue(creator=admin, name=f"Revoked {number}", services=list(Service), expires_on=None,
                               pepper=PEPPER.encode()) for number in range(sum(planned.values()))]
        db.session.add_all(row for row, _ in issued)
        db.session.commit()
        keys = [(row.id, plaintext) for row, plaintext in issued]
        admin_id = admin.id
        db.engine.dispose()
    access_log = temp / "revocation-access.log"
    server = Server(env, worker_class, production=production,
                    options=("--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT))
    events = []
    try:
        server.start()
        prober = Prober(server, access_log)
        try:
            for kind, count in planned.items():
                for _ in range(count):
                    key_id, plaintext = keys.pop()
                    prober.accepted_everywhere(plaintext)
                    since, committed = deactivate(kind, app, server, key_id, admin_id, plaintext)
                    events.append({"kind": kind, **prober.watch(plaintext, since, committed)})
        finally:
            prober.close()
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()
    return result(events, prober.sent)


def deactivate(kind: str, app: Flask, server: Server, key_id: int, admin_id: int, plaintext: str):
    """Deactivate the key as `kind` says: the moment its latency runs from, and the moment the commit returned."""
    from floqast.accounts.models import User
    from floqast.extensions import db
    from floqast.keys import actions
    from floqast.keys.models import ApiKey, KeyStatus

    if kind == "leak report":
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            since = time.time()
            connection.request("POST", "/api/v1/credentials/revoke", json.dumps({"credentials": [plaintext]}),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            committed = time.time()
        finally:
            connection.close()
        if response.status != 202:
            raise SystemExit(f"bench: the revocation report got {response.status}")
        return since, committed
    with app.app_context():
        key, admin = db.session.get(ApiKey, key_id), db.session.get(User, admin_id)
        if kind == "roll end":
            actions.replace(key, admin, key.expires_on, ROLL_OVERLAP, KeyStatus.ACTIVE)
            db.session.commit()
            ends = key.roll_ends_at.timestamp()
            return ends, ends
        actions.deactivate_key(key, admin)
        since = time.time()
        db.session.commit()
        return since, time.time()


def result(events: list[dict], probes: int) -> Result:
    latencies = sorted(float("inf") if event["latency_ms"] is None else event["latency_ms"] for event in events)
    p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), latencies[-1]
    accepted_after = [ms for event in events for ms in event["accepted_after_ms"]]
    beyond = sum(1 for ms in accepted_after if ms > MAX_GOAL_MS)
    other = sum((Counter(event["other_statuses"]) for event in events), Counter())
    count = Counter(event["kind"] for event in events)
    met = p99 <= P99_GOAL_MS and worst <= MAX_GOAL_MS and beyond == 0 and not other
    refused_pull_ms = statistics.median(event["refused_pull_ms"] for event in events
                                        if event["refused_pull_ms"] is not None)
    return Result(
        9, "Revocation latency: a deactivation's commit to a 401 from every worker",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms; {len(accepted_after)} pulls accepted after the "
        f"commit, {beyond} of them more than {MAX_GOAL_MS / 1000:.0f} s after"
        + (f"; other answers {dict(other)}" if other else ""),
        f"{len(events)} deactivations ({count['delete']} deletes, {count['leak report']} leak reports, "
        f"{count['roll end']} roll ends), {events[0]['workers']} workers, {probes:,} probes; a refused pull "
        f"{refused_pull_ms:.1f} ms (median)",
        p99 / P99_GOAL_MS, f"p99 <= {P99_GOAL_MS} ms, max <= 1 s, 0 accepted later", met,
        {"events": events, "probes": probes, "refused_pull_ms_median": refused_pull_ms},
    )
