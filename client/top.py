"""`armonik-sessions top`: the dashboard's live figures in the terminal (docs/operability.md).

It reads the Prometheus endpoints of the API server and the workers, every interval: operations
by status, rows per second, retries, queue depth, API latency. Counters from several processes
sum; the gauges, which every worker samples from the same source, take the largest value. A rate
is a counter's increase between two scrapes of an endpoint over the seconds between them, summed
over the endpoints; a counter that went down (its process restarted) counts from 0. Quantiles
come from the histogram buckets' increase between two scrapes, interpolated within a bucket as
Prometheus' histogram_quantile does (from the totals until there are two scrapes).

Three parts: the scraping, the aggregation (pure functions of parsed scrapes) and the rendering.
"""

import bisect
import http.client
import itertools
import json
import math
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from telemetry import metrics
from telemetry.metrics import METRICS_FILE

# Temporal's own count of failed activity executions, on the same endpoints.
TEMPORAL_ACTIVITY_FAILED = "temporal_activity_execution_failed_total"
# Labels every series of a process has: they tell processes apart, not figures.
PROCESS_LABELS = frozenset({"role", "service_name"})
WANTED_PREFIXES = (metrics.PREFIX, TEMPORAL_ACTIVITY_FAILED)

Labels = tuple[tuple[str, str], ...]  # sorted, without PROCESS_LABELS
Series = dict[tuple[str, Labels], float]  # (sample name, labels) -> value
Key = tuple[str, ...]  # the values of the labels a figure is grouped by


# --- the endpoints -----------------------------------------------------------------------------


class NoEndpoints(ValueError):
    """Nothing to read: no endpoint given, and none listed by the stack."""


def endpoint_url(given: str) -> str:
    """A metrics endpoint as given (http://HOST:PORT/metrics, or HOST:PORT) as a URL."""
    url = given.strip()
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        _ = parts.port  # a bad port raises ValueError
    except ValueError as error:
        raise NoEndpoints(f"not a metrics endpoint: {given!r} ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NoEndpoints(f"not a metrics endpoint: {given!r} (expected http://HOST:PORT/metrics)")
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def endpoints(given: Sequence[str], state: Path) -> dict[str, str]:
    """The endpoints to read, name -> URL: those given, or else those the stack listed in
    `state`/metrics.json."""
    if given:
        urls = [endpoint_url(g) for g in given]
        return {urlsplit(u).netloc: u for u in urls}
    listed = state / METRICS_FILE
    try:
        data = json.loads(listed.read_text())
    except FileNotFoundError:
        raise NoEndpoints(
            f"no metrics endpoints: {listed} does not exist (make run writes it; set"
            " ARMONIK_STATE_DIR to the stack's state directory), or give --metrics URL"
        ) from None
    except (OSError, ValueError) as error:
        raise NoEndpoints(f"cannot read the metrics endpoints in {listed}: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise NoEndpoints(f"{listed} is not a JSON object of process name -> URL")
    if not data:
        raise NoEndpoints(f"{listed} lists no metrics endpoint; give --metrics URL")
    return {name: endpoint_url(url) for name, url in data.items()}


# --- scraping ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scrape:
    """One read of one endpoint: its series, or None when it did not answer (down)."""

    name: str
    url: str
    at: float  # time.monotonic() when the read started
    series: Series | None
    roles: frozenset[str] = frozenset()
    error: str = ""

    @property
    def up(self) -> bool:
        return self.series is not None


def read(name: str, url: str, at: float, text: str) -> Scrape:
    """A scrape from the endpoint's exposition text (down if it is not Prometheus text)."""
    series: Series = defaultdict(float)
    roles: set[str] = set()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not sample.name.startswith(WANTED_PREFIXES):
                    continue
                labels = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if k not in PROCESS_LABELS)
                )
                series[sample.name, labels] += sample.value
                if role := sample.labels.get("role"):
                    roles.add(role)
    except ValueError as error:
        return Scrape(name, url, at, None, error=f"not Prometheus text ({error})")
    return Scrape(name, url, at, dict(series), frozenset(roles))


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(name: str, url: str, timeout: float) -> Scrape:
    at = time.monotonic()
    try:
        with _opener.open(url, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        return Scrape(name, url, at, None, error=" ".join(str(reason).split()) or "no answer")
    return read(name, url, at, text)


# --- aggregation -------------------------------------------------------------------------------


def increase(now: float, before: float | None) -> float:
    """A counter's increase between two scrapes. One new since the last scrape, or that went
    down (its process restarted), counts from 0."""
    if before is None or now < before:
        return now
    return now - before


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile of a histogram's observations, from its cumulative bucket counts (upper
    bound -> count), as Prometheus' histogram_quantile: linear within the bucket the rank falls
    in; the largest finite bound if it falls in +Inf. None without observations."""
    if math.inf not in buckets:
        return None
    bounds = sorted(buckets)
    counts = list(itertools.accumulate((buckets[b] for b in bounds), max))  # made monotonic
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    i = bisect.bisect_left(counts, rank)
    if i >= len(bounds) - 1:
        return bounds[-2] if len(bounds) > 1 else None
    if i == 0 and bounds[0] <= 0:
        return bounds[0]
    lower, below = (0.0, 0.0) if i == 0 else (bounds[i - 1], counts[i - 1])
    return lower + (bounds[i] - lower) * (rank - below) / (counts[i] - below)


def _key(labels: Labels, by: Sequence[str]) -> Key:
    found = dict(labels)
    return tuple(found.get(name, "") for name in by)


class View:
    """The figures of one frame: the latest scrape of every endpoint, and the one before of
    those that answered both times (rates and windowed quantiles come from these pairs)."""

    def __init__(self, now: Sequence[Scrape], before: Mapping[str, Scrape] | None = None):
        before = before or {}
        self.scrapes = list(now)
        self.up = [s for s in now if s.up]
        self.pairs = [
            (s, before[s.name])
            for s in self.up
            if s.name in before and before[s.name].up and s.at > before[s.name].at
        ]
        # Rates exist once one endpoint answered twice; until then, quantiles are of totals.
        self.windowed = bool(self.pairs)

    def _of(self, scrape: Scrape, name: str) -> Iterable[tuple[Labels, float]]:
        assert scrape.series is not None
        return ((labels, v) for (n, labels), v in scrape.series.items() if n == name)

    def total(self, name: str, by: Sequence[str]) -> dict[Key, float]:
        """A counter's value, summed over the endpoints."""
        out: dict[Key, float] = defaultdict(float)
        for scrape in self.up:
            for labels, value in self._of(scrape, name):
                out[_key(labels, by)] += value
        return dict(out)

    def rate(self, name: str, by: Sequence[str]) -> dict[Key, float]:
        """A counter's increase per second, summed over the endpoints ({} without rates)."""
        out: dict[Key, float] = defaultdict(float)
        for now, before in self.pairs:
            assert before.series is not None
            seconds = now.at - before.at
            for labels, value in self._of(now, name):
                previous = before.series.get((name, labels))
                out[_key(labels, by)] += increase(value, previous) / seconds
        return dict(out)

    def gauge(self, name: str, by: Sequence[str]) -> dict[Key, float]:
        """A sampled gauge: the largest value any endpoint shows (each samples the same thing)."""
        out: dict[Key, float] = {}
        for scrape in self.up:
            mine: dict[Key, float] = defaultdict(float)
            for labels, value in self._of(scrape, name):
                mine[_key(labels, by)] += value
            for key, value in mine.items():
                out[key] = max(out.get(key, value), value)
        return out

    def buckets(self, name: str, by: Sequence[str]) -> dict[Key, dict[float, float]]:
        """A histogram's cumulative bucket counts by group: their increase since the scrape
        before when there are rates, the totals until then."""
        out: dict[Key, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        if self.windowed:
            pairs = self.pairs
        else:
            pairs = [(s, None) for s in self.up]
        bucket = name + "_bucket"
        for now, before in pairs:
            for labels, value in self._of(now, bucket):
                rest = tuple((k, v) for k, v in labels if k != "le")
                bound = float(dict(labels).get("le", "+Inf"))
                if before is not None:
                    assert before.series is not None
                    value = increase(value, before.series.get((bucket, labels)))
                out[_key(rest, by)][bound] += value
        return {key: dict(counts) for key, counts in out.items()}

    def quantile(self, q: float, name: str, by: Sequence[str]) -> dict[Key, float | None]:
        return {
            key: histogram_quantile(q, counts) for key, counts in self.buckets(name, by).items()
        }


# --- rendering ---------------------------------------------------------------------------------


NONE = "-"  # a figure that does not exist (yet)


def _count(value: float | None) -> str:
    return NONE if value is None else f"{value:,.0f}"


def _rate(value: float | None) -> str:
    return NONE if value is None else f"{value:,.1f}"


def _format_seconds(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"


def _by_code(counts: Mapping[str, float]) -> str:
    return ", ".join(f"{code} {n:,.0f}" for code, n in sorted(counts.items()) if n) or NONE


# Columns of words, read left-aligned; the figures are right-aligned.
TEXT_COLUMNS = {"operation", "step", "activity", "cause", "partition", "rpc", "refused", "errors"}
TEXT_COLUMNS |= {"name", "url", "role", "state"}


def _make_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str | Text]],
    empty: str = "nothing yet",
) -> Table:
    table = Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, show_edge=False
    )
    for column in columns:
        table.add_column(column, justify="left" if column in TEXT_COLUMNS else "right")
    for row in rows:
        table.add_row(*row)
    if not rows:
        table.add_row(Text(empty, style="dim"), *([""] * (len(columns) - 1)))
    return table


def _maybe(view: View, rates: Mapping[Key, float], key: Key) -> float | None:
    return rates.get(key, 0.0) if view.windowed else None


def operations_table(view: View) -> Table:
    by = ("operation",)
    started = view.total(metrics.OPERATIONS_STARTED + "_total", by)
    admitted = view.total(metrics.OPERATIONS_ADMITTED + "_total", by)
    completed = view.total(metrics.OPERATIONS_COMPLETED + "_total", by)
    superseded = view.total(metrics.OPERATIONS_SUPERSEDED + "_total", by)
    refused = view.total(metrics.OPERATIONS_REFUSED + "_total", ("operation", "code"))
    running = view.gauge(metrics.OPERATIONS_RUNNING, by)
    stalled = view.gauge(metrics.OPERATIONS_STALLED, by)
    started_rate = view.rate(metrics.OPERATIONS_STARTED + "_total", by)
    completed_rate = view.rate(metrics.OPERATIONS_COMPLETED + "_total", by)
    refused_by: dict[Key, dict[str, float]] = defaultdict(dict)
    for (operation, code), n in refused.items():
        refused_by[(operation,)][code] = n
    keys = sorted({*started, *admitted, *completed, *superseded, *running, *refused_by})
    rows = [
        [
            key[0] or "?",
            _count(running.get(key, 0)),
            _stalled(stalled.get(key, 0)),
            _rate(_maybe(view, started_rate, key)),
            _rate(_maybe(view, completed_rate, key)),
            _count(started.get(key, 0)),
            _count(admitted.get(key, 0)),
            _count(completed.get(key, 0)),
            _count(superseded.get(key, 0)),
            _by_code(refused_by.get(key, {})),
        ]
        for key in keys
    ]
    columns = ["operation", "running", "stalled", "started/s", "completed/s", "started"]
    columns += ["admitted"]
    columns += ["completed", "superseded", "refused"]
    return _make_table("Operations", columns, rows)


def _stalled(count: float) -> Text | str:
    return Text(_count(count), style="bold red") if count else _count(count)


def limits_table(view: View) -> Table:
    """Each process's adaptive store limits as they are now: one that sits below its ceiling
    says that the store could not serve more."""
    rows = []
    for scrape in view.up:
        for labels, value in sorted(view._of(scrape, metrics.STORE_LIMIT)):
            named = dict(labels)
            rows.append(
                [scrape.name, named.get("store", "?"), named.get("limit", "?"), _count(value)]
            )
    return _make_table("Store limits", ["process", "store", "limit", "now"], rows)


def throughput_table(view: View) -> Table:
    by = ("operation", "step")
    name = metrics.ROWS_CHANGED + "_total"
    rows_total = view.total(name, by)
    rows_rate = view.rate(name, by)
    batches_rate = view.rate(metrics.BATCH_SECONDS + "_count", by)
    p50 = view.quantile(0.5, metrics.BATCH_SECONDS, by)
    keys = sorted({*rows_total, *p50})
    rows = [
        [
            key[0] or "?",
            key[1] or "?",
            _rate(_maybe(view, rows_rate, key)),
            _count(rows_total.get(key, 0)),
            _rate(_maybe(view, batches_rate, key)),
            _format_seconds(p50.get(key)),
        ]
        for key in keys
    ]
    columns = ["operation", "step", "rows/s", "rows", "batches/s", "batch p50"]
    return _make_table("Throughput", columns, rows)


def retries_table(view: View) -> Table:
    by = ("activity", "cause")
    name = metrics.ACTIVITY_RETRIES + "_total"
    total = view.total(name, by)
    rate = view.rate(name, by)
    failed_by = ("activity_type",)
    failed = view.total(TEMPORAL_ACTIVITY_FAILED, failed_by)
    failed_rate = view.rate(TEMPORAL_ACTIVITY_FAILED, failed_by)
    rows = [
        [key[0] or "?", key[1] or "?", _rate(_maybe(view, rate, key)), _count(total[key])]
        for key in sorted(total)
    ]
    rows += [
        [key[0] or "?", "failed (Temporal)", _rate(_maybe(view, failed_rate, key)), _count(n)]
        for key, n in sorted(failed.items())
    ]
    return _make_table("Retries", ["activity", "cause", "per s", "total"], rows, "none")


def queues_table(view: View) -> Table:
    depth = view.gauge(metrics.QUEUE_DEPTH, ("partition",))
    rows = [[key[0] or "?", _count(n)] for key, n in sorted(depth.items())]
    return _make_table("Queues", ["partition", "depth"], rows)


def _rpc(service: str, rpc: str) -> str:
    return f"{service.rsplit('.', 1)[-1]}/{rpc}" if service else rpc


def api_table(view: View) -> Table:
    by = ("service", "rpc")
    name = metrics.API_REQUEST_SECONDS
    requests = view.total(name + "_count", by)
    rate = view.rate(name + "_count", by)
    p50 = view.quantile(0.5, name, by)
    p99 = view.quantile(0.99, name, by)
    errors: dict[Key, dict[str, float]] = defaultdict(dict)
    for (service, rpc, code), n in view.total(name + "_count", (*by, "code")).items():
        if code != "OK":
            errors[(service, rpc)][code] = n
    rows = [
        [
            _rpc(*key),
            _rate(_maybe(view, rate, key)),
            _format_seconds(p50.get(key)),
            _format_seconds(p99.get(key)),
            _count(requests[key]),
            _by_code(errors.get(key, {})),
        ]
        for key in sorted(requests)
    ]
    return _make_table("API", ["rpc", "req/s", "p50", "p99", "requests", "errors"], rows)


def endpoints_table(view: View) -> Table:
    rows: list[list[str | Text]] = []
    for s in view.scrapes:
        state = Text("up", style="green") if s.up else Text(f"down: {s.error}", style="red")
        rows.append([s.name, s.url, ",".join(sorted(s.roles)), state])
    return _make_table("Endpoints", ["name", "url", "role", "state"], rows)


def frame(view: View, interval: float, clock: Callable[[], str] | None = None) -> Group:
    """One frame: the tables of the figures, and which endpoints answer."""
    when = (clock or (lambda: time.strftime("%H:%M:%S")))()
    up, all_ = len(view.up), len(view.scrapes)
    head = Text(f"armonik-sessions top · {when} · {up} of {all_} endpoints up · every ")
    head.append(f"{interval:g} s")
    if not view.windowed:
        head.append(" · rates from the next scrape", style="dim")
    parts: list[RenderableType] = [head]
    if not view.up:
        parts.append(
            Text(f"no endpoint answers: trying again every {interval:g} s", style="bold red")
        )
    else:
        parts += [
            operations_table(view),
            throughput_table(view),
            retries_table(view),
            queues_table(view),
            limits_table(view),
            api_table(view),
        ]
    parts.append(endpoints_table(view))
    return Group(*parts)


# --- the command -------------------------------------------------------------------------------


@dataclass
class Scraper:
    endpoints: Mapping[str, str]
    timeout: float
    pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=min(32, len(self.endpoints)) or 1)

    def __call__(self) -> list[Scrape]:
        futures = [
            self.pool.submit(scrape, name, url, self.timeout)
            for name, url in self.endpoints.items()
        ]
        return [f.result() for f in futures]

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def run(endpoints: Mapping[str, str], interval: float, once: bool, console: Console) -> int:
    """Show the figures every `interval` seconds until interrupted; with `once`, print one frame
    after two scrapes one interval apart. The exit code: 3 when `once` found every endpoint
    down."""
    scraper = Scraper(endpoints, timeout=max(0.5, min(interval, 5.0)))
    last: dict[str, Scrape] = {}  # the last scrape that answered, by endpoint
    try:
        if once:
            first = scraper()
            last.update((s.name, s) for s in first if s.up)
            _sleep_until(min(s.at for s in first) + interval)
            view = View(scraper(), last)
            console.print(frame(view, interval))
            return 0 if view.up else 3
        with Live(console=console, screen=console.is_terminal, auto_refresh=False) as live:
            while True:
                started = time.monotonic()
                now = scraper()
                live.update(frame(View(now, last), interval), refresh=True)
                last.update((s.name, s) for s in now if s.up)
                _sleep_until(started + interval)
    finally:
        scraper.close()


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
