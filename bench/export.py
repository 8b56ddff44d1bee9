"""3. Export: CSV of every row over HTTP against the driver alone + csv.writer, and the workers' peak RSS for
all rows against one entity's tenth (measured during the same exports)."""

import csv
import http.client
import os
import threading
import time
from pathlib import Path

from bench.harness import Databases, Result, Server, Sizes


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


def http_export(server: Server, key: str, query: str = "") -> tuple[float, int, int]:
    """Seconds, data lines and peak worker RSS (KiB) of one streamed CSV export."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    with RssSampler(server) as sampler:
        started = time.perf_counter()
        connection.request("GET", "/api/v1/analytics/reconciliations" + query,
                           headers={"x-api-key": key, "Accept": "text/csv"})
        response = connection.getresponse()
        assert response.status == 200, response.status
        lines = 0
        while chunk := response.read(1 << 20):
            lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, lines - 1, sampler.peak


def measure(server: Server, databases: Databases, key: str, team_id: int, entity_id: int, rows: int,
            sizes: Sizes) -> list[Result]:
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
    memory = peak_all / peak_part
    return [
        Result(3, f"Export: CSV of {rows:,} rows over HTTP vs driver + csv.writer",
               f"{speed:,.0f} rows/s ({http_best:.1f} s)", f"{base_speed:,.0f} rows/s ({base_best:.1f} s)",
               ratio, ">= 0.5", ratio >= 0.5, {"http_seconds": http_times, "baseline_seconds": base_times}),
        Result(3, f"Export memory: worker peak RSS, {rows:,} vs {part_rows:,} rows",
               f"{peak_all / 1024:.1f} MiB", f"{peak_part / 1024:.1f} MiB", memory, "<= 1.3", memory <= 1.3,
               {"peak_kib_all": peak_all, "peak_kib_part": peak_part, "part_rows": part_rows}),
    ]
