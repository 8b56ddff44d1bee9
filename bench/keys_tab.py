"""5. The API Keys tab: server time with 1,000 keys in the team against 10."""

import time

from bench.harness import Result, Sizes, issue_keys, make_team


def measure(app, sizes: Sizes) -> Result:
    """Server time of GET /settings/api-keys for a team with 1,000 keys and one with 10, in-process."""
    from floqast.extensions import db

    clients = {}
    for count in (10, 1000):
        with app.app_context():
            _, admin = make_team(f"Keys {count}", f"admin{count}@keys.test")
            issue_keys(admin, count)
            user_id = admin.id
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = str(user_id), True
        clients[count] = client
    times = {count: [] for count in clients}
    for round_number in range(sizes.page_rounds * 2 + 1):
        for count, client in clients.items():
            started = time.perf_counter()
            response = client.get("/settings/api-keys")
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.status_code
            if round_number:
                times[count].append(elapsed * 1000)
    with app.app_context():
        db.engine.dispose()
    small, large = min(times[10]), min(times[1000])  # best of the alternating rounds
    ratio = large / small
    return Result(5, "API Keys tab: 1,000 keys vs 10 (server time)", f"{large:.1f} ms", f"{small:.1f} ms",
                  ratio, "<= 2", ratio <= 2, {"ms": times})
