"""2. Key check cost: in-process verification (the verifier reading the database, not a kept copy) with 10 keys in the
database against --keys of them."""

import os
import time
from pathlib import Path

from bench.harness import Databases, Result, Sizes, issue_keys, make_app, make_team


def filler_keys(team_id: int, admin_id: int, count: int, batch: int = 20_000) -> None:
    """`count` more key rows with random digests, inserted in bulk (executemany), not one ORM object each."""
    from sqlalchemy import insert

    from floqast.columns import utcnow
    from floqast.extensions import db
    from floqast.keys.models import ApiKey

    now = utcnow()
    table = ApiKey.__table__
    done = 0
    while done < count:
        size = min(batch, count - done)
        rows = [
            {"team_id": team_id, "name": f"Filler {done + i}", "hint": "fq_" + digest[:4],
             "digest": digest, "services": ["reconciliations"], "created_by_id": admin_id, "created_at": now}
            for i, digest in ((i, os.urandom(32).hex()) for i in range(size))
        ]
        db.session.execute(insert(table), rows)
        db.session.commit()
        done += size


def measure(databases: Databases, temp: Path, sizes: Sizes, log) -> Result:
    from floqast.extensions import db
    from floqast.keys.authenticate import authenticate

    apps, plaintexts = {}, {}
    for name, count in (("keys-small", 10), ("keys-large", sizes.keys)):
        databases.create(name)
        app = apps[name] = make_app(databases.url(name), temp)
        with app.app_context():
            team, admin = make_team("Key Check", "admin@keycheck.test")
            started = time.perf_counter()
            filler_keys(team.id, admin.id, (count - 10) // 2)
            plaintexts[name] = issue_keys(admin, 10)  # the keys checked sit among the filler, not at one end
            filler_keys(team.id, admin.id, count - 10 - (count - 10) // 2)
            if databases.kind == "postgresql":
                db.session.execute(db.text("ANALYZE api_keys"))
                db.session.commit()
            total = db.session.scalar(db.text("SELECT count(*) FROM api_keys"))
            log(f"  {name}: {total:,} keys in {time.perf_counter() - started:.1f} s")
    checks = 200
    per_check = {name: [] for name in apps}
    for round_number in range(sizes.rounds * 2 + 1):
        for name, app in apps.items():
            with app.app_context():
                started = time.perf_counter()
                for _ in range(checks // 10):
                    for plaintext in plaintexts[name]:
                        authenticate(plaintext, "127.0.0.1", None, fresh=True)  # its lookup, not a kept copy
                        db.session.remove()
                elapsed = time.perf_counter() - started
            if round_number:  # the first round warms caches and compiles statements
                per_check[name].append(elapsed / checks * 1e6)
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()
    small, large = (min(per_check[name]) for name in ("keys-small", "keys-large"))  # best round of each
    ratio = large / small
    return Result(2, f"Key check: {sizes.keys:,} keys vs 10 (in-process verify)", f"{large:.0f} µs/check",
                  f"{small:.0f} µs/check", ratio, "<= 1.2", ratio <= 1.2,
                  {"keys": sizes.keys, "us_per_check": per_check})
