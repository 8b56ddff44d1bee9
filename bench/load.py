"""A small HTTP load generator: threads with keep-alive connections, bounded in requests and seconds.

    python -m bench.load URL [--header 'name: value'] [--threads 4] [--requests 20000] [--seconds 5]

Prints one JSON object: requests, errors, seconds, rps, p50_ms, p99_ms. It runs in its own process so that
the server and the client do not share an interpreter; it stops by itself at whichever bound comes first.
"""

import argparse
import http.client
import json
import threading
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def run(url: str, headers: dict, threads: int, max_requests: int, seconds: float) -> dict:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("bench.load only targets loopback")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lock = threading.Lock()
    budget = [max_requests]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    deadline = time.perf_counter() + seconds

    def take() -> bool:
        with lock:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            return True

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = latencies[index]
        while time.perf_counter() < deadline and take():
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors[index] += 1
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            mine.append(time.perf_counter() - started)
        connection.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(seconds + 15)
    elapsed = time.perf_counter() - started
    every = sorted(latency for mine in latencies for latency in mine)
    return {
        "tool": "python",
        "requests": len(every),
        "errors": sum(errors),
        "seconds": elapsed,
        "rps": len(every) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(every, 0.50) * 1000,
        "p99_ms": percentile(every, 0.99) * 1000,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    headers = dict(tuple(part.strip() for part in header.split(":", 1)) for header in args.header)
    print(json.dumps(run(args.url, headers, args.threads, args.requests, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
