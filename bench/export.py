"""3. Export: CSV of every row over HTTP against the driver alone + csv.writer (on PostgreSQL the export is the
database's own COPY, and the goal is to beat the script), and the workers' peak RSS for all rows against one
entity's tenth (measured during the same exports), and for a 30,000-record JSON page (the
default page size) against a 3,000-record one."""

import csv
import http.client
import json
import os
import threading
import time
from pathlib import Path

from bench.harness import Databases, Result, Server, Sizes

LARGE_PAGE, SMALL_PAGE = 30_000, 3_000
# The export's goal against the driver + csv.writer: on PostgreSQL COPY writes the CSV, so it must beat the script.
SPEED_GOALS = {"postgresql": 1.0, "sqlite": 0.5}


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """The highest RSS of any gunicorn worker while a block runs, sampled every 20 ms from /proc."""

    def __init__(self, server: Server):
        self.server, self.peak, self.stop = server, 0, threading.Event()

    def __enter__(self):
        self.pids = self.server.workers()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self):
        while not self.stop.is_set():
            self.peak = max([self.peak, *(rss_kib(pid) for pid in self.pids)])
            self.stop.wait(0.02)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def baseline_export(databases: Databases, team_id: int, rows: int) -> float:
    """Seconds to read the team's reconciliations with the driver alone and write them with csv.writer."""
    query = ("SELECT r.*, e.name, f.name FROM reconciliations r JOIN entities e ON e.id = r.entity_id "
             f"JOIN folders f ON f.id = r.folder_id WHERE r.team_id = {databases.placeholder} ORDER BY r.id")
    connection = databases.connect("main")
    try:
        started = time.perf_counter()
        if databases.kind == "sqlite":
            cursor = connection.execute(query, (team_id,))
        else:
            cursor = connection.cursor(name="bench_baseline")
            cursor.itersize = 1000
            cursor.execute(query, (team_id,))
        written = 0
        with open(os.devnull, "w", newline="") as sink:
            writer = csv.writer(sink)
            writer.writerow([column[0] for column in cursor.description])
            for row in cursor:
                writer.writerow(row)
                written += 1
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    assert written == rows, (written, rows)
    return elapsed


def http_pull(server: Server, key: str, query: str, accept: str, count) -> tuple[float, int, int]:
    """Seconds, records (`count(response)`) and peak worker RSS (KiB) of one pull of reconciliations."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    with RssSampler(server) as sampler:
        started = time.perf_counter()
        connection.request("GET", "/api/v1/analytics/reconciliations" + query,
                           headers={"x-api-key": key, "Accept": accept})
        response = connection.getresponse()
        assert response.status == 200, response.status
        records = count(response)
        elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, records, sampler.peak


def csv_records(response) -> int:
    """Data lines of a CSV body, read a MiB at a time."""
    lines = 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")
    return lines - 1


def json_records(response) -> int:
    return len(json.loads(response.read())["data"])


def http_export(server: Server, key: str, query: str = "") -> tuple[float, int, int]:
    """Seconds, data lines and peak worker RSS (KiB) of one streamed CSV export."""
    return http_pull(server, key, query, "text/csv", csv_records)


def page_peaks(server: Server, key: str, size: int, rounds: int) -> list[int]:
    """Peak worker RSS (KiB) during each of `rounds` JSON pages of `size` records."""
    peaks = []
    for _ in range(rounds):
        _, records, peak = http_pull(server, key, f"?page%5Bsize%5D={size}", "application/json", json_records)
        assert records == size, (records, size)
        peaks.append(peak)
    return peaks


def measure(server: Server, databases: Databases, key: str, team_id: int, entity_id: int, rows: int,
            sizes: Sizes) -> list[Result]:
    # The JSON pages first, the small ones before any large one: a worker's RSS seldom shrinks back, so a small
    # page measured after a large one would carry the large one's peak and flatter the ratio.
    small_peaks = page_peaks(server, key, SMALL_PAGE, sizes.export_rounds)
    large_peaks = page_peaks(server, key, LARGE_PAGE, sizes.export_rounds)
    part_rows = None
    part_peaks, http_times, base_times = [], [], []
    for _ in range(sizes.export_rounds):
        _, part_rows, peak = http_export(server, key, f"?filter%5BentityIds%5D={entity_id}")
        part_peaks.append(peak)
        base_times.append(baseline_export(databases, team_id, rows))
        elapsed, lines, peak_all = http_export(server, key)
        assert lines == rows, (lines, rows)
        http_times.append((elapsed, peak_all))
    http_best = min(elapsed for elapsed, _ in http_times)
    peak_all = max(peak for _, peak in http_times)
    peak_part = max(part_peaks)
    base_best = min(base_times)
    speed, base_speed = rows / http_best, rows / base_best
    ratio = speed / base_speed
    goal = SPEED_GOALS[databases.kind]
    memory = peak_all / peak_part
    page_memory = max(large_peaks) / max(small_peaks)
    return [
        Result(3, f"Export: CSV of {rows:,} rows over HTTP vs driver + csv.writer",
               f"{speed:,.0f} rows/s ({http_best:.1f} s)", f"{base_speed:,.0f} rows/s ({base_best:.1f} s)",
               ratio, f">= {goal}", ratio >= goal, {"http_seconds": http_times, "baseline_seconds": base_times}),
        Result(3, f"Export memory: worker peak RSS, {rows:,} vs {part_rows:,} rows",
               f"{peak_all / 1024:.1f} MiB", f"{peak_part / 1024:.1f} MiB", memory, "<= 1.3", memory <= 1.3,
               {"peak_kib_all": peak_all, "peak_kib_part": peak_part, "part_rows": part_rows}),
        Result(3, f"JSON page memory: worker peak RSS, {LARGE_PAGE:,} vs {SMALL_PAGE:,} records a page",
               f"{max(large_peaks) / 1024:.1f} MiB", f"{max(small_peaks) / 1024:.1f} MiB", page_memory, "<= 1.3",
               page_memory <= 1.3, {"peak_kib_large_pages": large_peaks, "peak_kib_small_pages": small_peaks,
                                    "large_page": LARGE_PAGE, "small_page": SMALL_PAGE}),
    ]
