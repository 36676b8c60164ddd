"""`armonik-sessions top`: the figures it computes from two scrapes of hand-written Prometheus
text, and the command against a small local HTTP server."""

import contextlib
import http.server
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from client import top
from client.top import View, histogram_quantile, read

CLI = str(Path(sys.executable).parent / "armonik-sessions")
P = "armonik_sessions_"
API_BOUNDS = ["0.001", "0.005", "0.01", "+Inf"]


def worker(role: str = "worker", **given: float) -> str:
    """A worker's exposition: the figures of the tests, by keyword (0 if not given)."""
    values = defaultdict(float, given)
    tags = f'service_name="temporal-core-sdk",role="{role}"'
    return f"""\
# HELP {P}operations_started_total started
# TYPE {P}operations_started_total counter
{P}operations_started_total{{operation="pause",{tags}}} {values["started"]}
# TYPE {P}operations_completed_total counter
{P}operations_completed_total{{operation="pause",{tags}}} {values["completed"]}
# TYPE {P}operations_refused_total counter
{P}operations_refused_total{{operation="pause",code="FAILED_PRECONDITION",{tags}}} 2
# TYPE {P}rows_changed_total counter
{P}rows_changed_total{{operation="pause",step="tasks",{tags}}} {values["rows"]}
# TYPE {P}activity_retries_total counter
{P}activity_retries_total{{activity="run_batch",cause="store_down",{tags}}} {values["retries"]}
# TYPE {P}operations_running gauge
{P}operations_running{{operation="pause",{tags}}} {values["running"]}
# TYPE {P}queue_depth gauge
{P}queue_depth{{partition="gpu",{tags}}} {values["depth"]}
# TYPE {P}batch_seconds histogram
{P}batch_seconds_bucket{{operation="pause",step="tasks",{tags},le="0.1"}} {values["batches"]}
{P}batch_seconds_bucket{{operation="pause",step="tasks",{tags},le="1"}} {values["batches"]}
{P}batch_seconds_bucket{{operation="pause",step="tasks",{tags},le="+Inf"}} {values["batches"]}
{P}batch_seconds_count{{operation="pause",step="tasks",{tags}}} {values["batches"]}
# TYPE temporal_activity_execution_failed_total counter
temporal_activity_execution_failed_total{{activity_type="run_batch",namespace="default",{tags}}} 1
# TYPE temporal_workflow_completed_total counter
temporal_workflow_completed_total{{{tags}}} 12
"""


def api(counts: list[int], errors: int = 0) -> str:
    """The API server's exposition: GetSession answered OK with `counts` cumulative per bucket
    (API_BOUNDS), and `errors` NOT_FOUND answers in the first bucket."""
    tags = 'service_name="temporal-core-sdk",role="api"'
    rpc = 'service="armonik.api.grpc.v1.sessions.Sessions",rpc="GetSession"'
    lines = [f"# TYPE {P}api_request_seconds histogram"]
    for code, per_bucket in (("OK", counts), ("NOT_FOUND", [errors] * len(API_BOUNDS))):
        for bound, n in zip(API_BOUNDS, per_bucket, strict=True):
            lines.append(
                f'{P}api_request_seconds_bucket{{code="{code}",{rpc},{tags},le="{bound}"}} {n}'
            )
        lines.append(f'{P}api_request_seconds_sum{{code="{code}",{rpc},{tags}}} 0.1')
        lines.append(f'{P}api_request_seconds_count{{code="{code}",{rpc},{tags}}} {per_bucket[-1]}')
    return "\n".join(lines) + "\n"


def scrapes(at: float, **texts: str) -> list[top.Scrape]:
    return [read(name, f"http://{name}/metrics", at, text) for name, text in texts.items()]


def by_name(scrapes: list[top.Scrape]) -> dict[str, top.Scrape]:
    return {s.name: s for s in scrapes}


STARTED = f"{P}operations_started_total"


def test_rates_sum_over_endpoints_and_totals_too():
    before = scrapes(10.0, w1=worker(started=10, rows=1000), w2=worker(started=5, rows=0))
    now = scrapes(12.0, w1=worker(started=20, rows=5000), w2=worker(started=9, rows=600))
    view = View(now, by_name(before))
    assert view.windowed
    assert view.rate(STARTED, ("operation",)) == {("pause",): (10 + 4) / 2}
    assert view.total(STARTED, ("operation",)) == {("pause",): 29}
    rows = view.rate(f"{P}rows_changed_total", ("operation", "step"))
    assert rows == {("pause", "tasks"): (4000 + 600) / 2}
    # The labels every process has (role, service_name) are not figures.
    assert view.total(STARTED, ("role",)) == {("",): 29}
    assert by_name(now)["w1"].roles == {"worker"}


def test_no_rates_from_a_single_scrape():
    view = View(scrapes(1.0, w1=worker(started=10)))
    assert not view.windowed
    assert view.rate(STARTED, ("operation",)) == {}
    assert view.total(STARTED, ("operation",)) == {("pause",): 10}


def test_a_counter_that_went_down_counts_from_zero():
    before = scrapes(0.0, w1=worker(started=100), w2=worker(started=50))
    # w2 restarted: its 50 became 3.
    now = scrapes(1.0, w1=worker(started=110), w2=worker(started=3))
    assert View(now, by_name(before)).rate(STARTED, ("operation",)) == {("pause",): 13}


def test_a_new_series_counts_from_zero():
    before = scrapes(0.0, w1="")
    now = scrapes(4.0, w1=worker(started=8))
    assert View(now, by_name(before)).rate(STARTED, ("operation",)) == {("pause",): 2}


def test_gauges_take_the_largest_value_across_endpoints():
    now = scrapes(0.0, w1=worker(depth=7, running=2), w2=worker(depth=9, running=1))
    view = View(now)
    assert view.gauge(f"{P}queue_depth", ("partition",)) == {("gpu",): 9}
    assert view.gauge(f"{P}operations_running", ("operation",)) == {("pause",): 2}


def test_histogram_quantile_as_prometheus():
    inf = float("inf")
    # 20 observations, all in (0.005, 0.01]: interpolated within it.
    assert histogram_quantile(0.5, {0.001: 0, 0.005: 0, 0.01: 20, inf: 20}) == 0.0075
    # The first bucket starts at 0.
    assert histogram_quantile(0.5, {0.01: 4, inf: 4}) == 0.005
    # In +Inf: the largest finite bound.
    assert histogram_quantile(0.99, {0.01: 1, 1.0: 1, inf: 10}) == 1.0
    assert histogram_quantile(0.5, {0.01: 0, inf: 0}) is None
    assert histogram_quantile(0.5, {}) is None
    # Counts that are not monotonic (mixed resets) are made so.
    assert histogram_quantile(0.5, {0.01: 4, 0.1: 3, inf: 4}) == 0.005


def test_api_quantiles_from_the_buckets_increase_between_scrapes():
    by = ("service", "rpc")
    name = f"{P}api_request_seconds"
    first = scrapes(0.0, api=api([0, 10, 10, 10], errors=1))
    second = scrapes(2.0, api=api([0, 10, 30, 30], errors=3))
    key = ("armonik.api.grpc.v1.sessions.Sessions", "GetSession")
    # From the totals on the first scrape: 11 answers, 1 NOT_FOUND in (0, 1 ms], 10 OK in
    # (1 ms, 5 ms].
    assert View(first).quantile(0.5, name, by) == {key: pytest.approx(0.001 + 0.004 * 4.5 / 10)}
    # Between the scrapes: 20 OK in (0.005, 0.01] and 2 NOT_FOUND in (0, 0.001].
    view = View(second, by_name(first))
    assert view.quantile(0.5, name, by) == {key: pytest.approx(0.005 + 0.005 * 9 / 20)}
    assert view.quantile(0.99, name, by) == {key: pytest.approx(0.005 + 0.005 * 19.78 / 20)}
    assert view.rate(f"{name}_count", by) == {key: 11}


def test_a_down_endpoint_is_left_out_and_shown_down():
    port = _closed_port()
    down = top.scrape("w2", f"http://127.0.0.1:{port}/metrics", timeout=2)
    assert not down.up and down.error
    garbage = read("w3", "http://w3/metrics", 1.0, "this is { not prometheus\n")
    assert not garbage.up and "not Prometheus text" in garbage.error
    before = scrapes(0.0, w1=worker(started=1))
    now = [*scrapes(1.0, w1=worker(started=5, depth=4)), down, garbage]
    view = View(now, by_name(before))
    assert view.rate(STARTED, ("operation",)) == {("pause",): 4}
    assert view.gauge(f"{P}queue_depth", ("partition",)) == {("gpu",): 4}
    shown = _text(top.frame(view, 2.0, clock=lambda: "12:00:00"))
    assert "1 of 3 endpoints up" in shown
    assert re.search(r"w2 .* down: ", shown)
    assert "not Prometheus text" in shown


def test_all_down_says_so():
    port = _closed_port()
    view = View([top.scrape("w1", f"http://127.0.0.1:{port}/metrics", timeout=2)])
    shown = _text(top.frame(view, 2.0))
    assert "0 of 1 endpoints up" in shown
    assert "no endpoint answers: trying again every 2 s" in shown


def test_endpoints_given_or_listed_by_the_stack(tmp_path):
    assert top.endpoints(["127.0.0.1:9464", "http://h:1/m"], tmp_path) == {
        "127.0.0.1:9464": "http://127.0.0.1:9464/metrics",
        "h:1": "http://h:1/m",
    }
    with pytest.raises(top.NoEndpoints, match="not a metrics endpoint"):
        top.endpoints(["ftp://h:1/metrics"], tmp_path)
    with pytest.raises(top.NoEndpoints, match=r"no metrics endpoints: .*metrics\.json"):
        top.endpoints([], tmp_path)
    (tmp_path / "metrics.json").write_text("[1]")
    with pytest.raises(top.NoEndpoints, match="not a JSON object"):
        top.endpoints([], tmp_path)
    listed = {"api": "http://127.0.0.1:9464/metrics", "worker-1": "http://127.0.0.1:9465/metrics"}
    (tmp_path / "metrics.json").write_text(json.dumps(listed))
    assert top.endpoints([], tmp_path) == listed


def _text(renderable) -> str:
    console = Console(width=200, record=True, no_color=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the command -------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(*texts: str) -> Iterator[str]:
    """A metrics endpoint that answers each text in turn, then the last one again."""
    answered = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = texts[min(answered[0], len(texts) - 1)].encode()
            answered[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_top(*args: str, state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARMONIK_STATE_DIR": str(state), "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run(
        [CLI, "top", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_top_once_prints_the_figures(tmp_path):
    first = worker(started=10, completed=2, rows=1000, retries=1, depth=5, running=3, batches=2)
    second = worker(started=10, completed=3, rows=41000, retries=1, depth=7, running=2, batches=10)
    down = _closed_port()
    with serving(first + api([0, 10, 10, 10]), second + api([0, 10, 30, 30], errors=4)) as url:
        ran = run_top(
            "--once",
            "--interval",
            "0.5",
            "--metrics",
            url,
            "--metrics",
            f"http://127.0.0.1:{down}/metrics",
            state=tmp_path,
        )
    print(ran.stdout)
    assert ran.returncode == 0, ran.stderr
    shown = ran.stdout
    assert "1 of 2 endpoints up" in shown
    assert re.search(rf"127\.0\.0\.1:{down} .* down: ", shown)
    operations = _row(shown, "pause", "Operations")
    # running, stalled, started/s, completed/s, started, admitted, completed, superseded, refused
    assert (
        operations[0] == "2"
        and operations[1] == "0"
        and operations[2] == "0.0"
        and operations[4:]
        == [
            "10",
            "0",
            "3",
            "0",
            "FAILED_PRECONDITION 2",
        ]
    )
    assert 1.5 <= float(operations[3]) <= 2.2  # 1 completed in about 0.5 s
    throughput = _row(shown, "pause", "Throughput")
    assert throughput[0] == "tasks" and throughput[2] == "41,000"
    assert 12 <= float(throughput[3]) <= 17.6  # 8 batches in about 0.5 s
    assert throughput[4] == "50.0 ms"  # the 8 in (0, 100 ms]
    assert 60_000 <= float(throughput[1].replace(",", "")) <= 88_000  # 40,000 in about 0.5 s
    assert _row(shown, "gpu", "Queues") == ["7"]
    assert _row(shown, "run_batch", "Retries")[:2] == ["store_down", "0.0"]
    api_row = _row(shown, "Sessions/GetSession", "API")
    # req/s, p50, p99, requests, errors: between the scrapes, 20 OK in (5 ms, 10 ms] and
    # 4 NOT_FOUND in (0, 1 ms]
    assert api_row[1:] == ["7.0 ms", "9.9 ms", "34", "NOT_FOUND 4"]
    assert 36 <= float(api_row[0]) <= 53  # 24 in about 0.5 s


def test_top_reads_the_endpoints_the_stack_lists(tmp_path):
    with serving(worker(depth=4)) as url:
        (tmp_path / "metrics.json").write_text(json.dumps({"worker-1": url}))
        ran = run_top("--once", "--interval", "0.2", state=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "1 of 1 endpoints up" in ran.stdout
    assert re.search(r"worker-1 .* worker .* up", ran.stdout)
    assert _row(ran.stdout, "gpu", "Queues") == ["4"]


def test_top_without_endpoints_exits_2(tmp_path):
    ran = run_top("--once", state=tmp_path)
    assert ran.returncode == 2
    assert "no metrics endpoints" in ran.stderr and "--metrics" in ran.stderr
    assert ran.stdout == ""


def test_top_once_with_every_endpoint_down_says_so(tmp_path):
    port = _closed_port()
    ran = run_top("--once", "--interval", "0.2", "--metrics", f"127.0.0.1:{port}", state=tmp_path)
    assert ran.returncode == 3
    assert "no endpoint answers" in ran.stdout


def _row(shown: str, first: str, table: str) -> list[str]:
    """The cells after `first` of the row that starts with it, in the table titled `table`."""
    lines = shown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == table)
    for line in lines[start:]:
        cells = [c for c in re.split(r"\s{2,}", line.strip()) if c]
        if cells and cells[0] == first:
            return cells[1:]
    raise AssertionError(f"no row {first} in {table}:\n{shown}")
