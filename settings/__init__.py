"""Configuration, from environment variables. The defaults are the embedded stack of `make run`."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from lifecycle.requests import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_STALL_SECONDS,
    DEFAULT_SWEEP_RANGES,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "armonik-sessions"
    # The time-skipping test server rejects custom search attributes it does not know.
    temporal_search_attributes: bool = True
    # TLS to Temporal's frontend (docs/security.md): the CA of its certificate, and for mutual
    # TLS the client certificate and key. Unset: plain text.
    temporal_tls_ca: str = ""
    temporal_tls_cert: str = ""
    temporal_tls_key: str = ""

    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # Each activity holds at most one connection at a time, so a pool as large as the worker's
    # activity concurrency never makes an activity wait for a connection. Unset: that size.
    postgres_pool_size: int | None = None

    redis_url: str = "redis://127.0.0.1:6379/0"

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_bucket: str = "armonik-results"
    s3_access_key: str = "armonik"
    s3_secret_key: str = "armonik"
    s3_region: str = "us-east-1"
    # The CA bundle that signed an https S3_ENDPOINT's certificate, if not the system's.
    s3_ca_bundle: str = ""

    default_partition: str = "default"
    # The largest chunk of result data a stream carries (Results.GetServiceConfiguration), as
    # ArmoniK's default.
    data_chunk_max_size: int = Field(64 * 1024, gt=0, lt=2**31)

    # The worker's and the API server's log lines: "text", or "json" (one object a line, with
    # the session, operation and workflow of each line; telemetry/logs.py).
    log_format: Literal["text", "json"] = "text"
    # Where this process serves its Prometheus metrics ("host:port", path /metrics); unset:
    # nowhere. `make run` gives the API and each worker a port of their own and prints them.
    metrics_address: str = ""
    # How often a worker samples what no event tells: each partition's queue depth, and the
    # operations running by Temporal's visibility store.
    metrics_sample_seconds: float = 5.0
    # The OpenTelemetry collector that traces go to, by OTLP over gRPC (http://host:4317);
    # unset: nothing is traced, and tracing costs nothing.
    otel_exporter_otlp_endpoint: str = ""
    # Where `make run` keeps its state (data, logs, its lock, the development certificates) and
    # lists its metrics endpoints for `armonik-sessions top` (telemetry/metrics.py's
    # METRICS_FILE): ARMONIK_STATE_DIR, or .state in the current directory (make run runs from
    # the repository's root, so its .state).
    state_dir: Path = Field(Path(".state"), validation_alias="ARMONIK_STATE_DIR")

    # The gRPC API (ArmoniK's control-plane port): where the server listens and the CLI calls.
    api_address: str = "127.0.0.1:5001"
    # Mutual TLS on the API (docs/security.md): the server's certificate and key, and the CA
    # that signs the clients' certificates. With the three set, the API serves TLS only, every
    # client needs a certificate from that CA, and every call the permission of its RPC.
    api_tls_cert: str = ""
    api_tls_key: str = ""
    api_tls_client_ca: str = ""
    # Without TLS the API listens on loopback only, unless this says it may listen elsewhere.
    api_insecure: bool = False
    # How long the API goes by what it read of a certificate's user and permissions: a change
    # made with `armonik-sessions auth` holds for new calls after at most this long.
    auth_cache_seconds: float = 10.0
    # The CLI's side of mutual TLS: the CA that signed the API's certificate, and the client
    # certificate and key it presents. Set API_CA to call the API over TLS.
    api_ca: str = ""
    api_client_cert: str = ""
    api_client_key: str = ""
    # gRPC-Web (docs/grpcweb.md), for the ArmoniK Admin GUI and other browser clients: where the
    # API process serves it ("host:port"), with the API's mutual TLS when that is on, every
    # call going on to the API's own server and its interceptors. Unset: not served.
    grpc_web_address: str = ""
    # The origins (comma-separated; * for any) whose pages may call gRPC-Web from another
    # origin (CORS). A GUI served from the gRPC-Web address itself needs none.
    grpc_web_cors_origins: str = ""
    # A build of the ArmoniK Admin GUI (its dist/ directory), served under /admin/ on the
    # gRPC-Web address. Unset: no GUI.
    gui_dir: str = ""
    # The API process also runs a worker, so that the operations it starts begin in it at once
    # (Temporal's eager workflow start): a Create or a Close answers in one round trip.
    api_worker: bool = True

    # A worker that stops heartbeating for this long is presumed dead, and its activity is
    # retried elsewhere from the last committed batch. Every store call is bounded by a share
    # of it (store_timeout), so that a dead store surfaces as a retryable error, with its cause,
    # well before a live worker could be taken for dead.
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    # Activities one worker runs at once: batches of one operation run one after another,
    # operations on several sessions side by side.
    max_concurrent_activities: int = 16

    # One batch is one transaction, with its queue pipeline or its S3 delete calls: a checkpoint.
    task_batch_size: int = 5000
    result_batch_size: int = 1000
    # A batch of object deletes: S3 takes 1,000 keys a call, and a batch makes its calls side
    # by side. `s3_deletes_in_flight` bounds the calls of the whole process, which every batch of
    # every range and session in it shares, so that more ranges or operations never ask more of
    # the object store than it serves at once.
    object_batch_size: int = 16000
    # The window of delete calls in flight follows what the store serves (stores/adaptive.py):
    # it halves when a call times out, is throttled or answers slowly, and grows back by one
    # call per window of calls that answer in time, between these two.
    s3_deletes_in_flight: int = 32
    s3_deletes_floor: int = 1
    # An activity call runs at most this many batches, for at most this long, before it hands
    # progress back to its workflow: the activity stays short and the history small.
    batches_per_call: int = 20
    call_seconds: float = 30.0
    # Each bulk step cuts the session's rows into this many ranges, which run side by side as
    # separate chains of activity calls, on any worker of the task queue.
    sweep_ranges: int = DEFAULT_SWEEP_RANGES
    # A bulk step whose calls keep failing without committing anything for this long shows as
    # stalled, with its cause (in the workflow's current details, WatchOperation, `top`, the
    # operations_stalled metric). It goes on retrying all the same.
    stall_seconds: float = DEFAULT_STALL_SECONDS
    # An operation's workflow continues as new once its history passes this many events, so
    # that it stays small (and quick to replay) whatever the session's size.
    history_limit: int = DEFAULT_HISTORY_LIMIT

    # A polling agent (`python -m agent`, issue 19): the partition it takes tasks from (unset:
    # the default partition), the worker command it launches (a shell-style command line; unset:
    # the sample worker), its pod id (unset: host and pid), and where it keeps its sockets and
    # the tasks' data folder (unset: <state_dir>/agents/<pod id>).
    agent_partition: str = ""
    agent_worker: str = ""
    agent_pod_id: str = ""
    agent_dir: str = ""
    # How long an idle agent waits before it polls its queue again, and how often a running
    # task's row is read to learn that it was cancelled.
    agent_poll_seconds: float = 0.2
    agent_cancel_poll_seconds: float = 0.5
    # An agent renews its lease every third of this; one not renewed for this long is dead,
    # and the agents that see it reap its tasks.
    agent_lease_seconds: float = 6.0
    # How long a worker may take to answer its first HealthCheck after it is launched.
    agent_worker_start_seconds: float = 30.0

    @property
    def store_timeout(self) -> float:
        """The longest any one store call (a statement, a pool checkout, an S3 or Redis
        command) may take before it fails."""
        return self.heartbeat_timeout * STORE_TIMEOUT_SHARE

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.grpc_web_cors_origins.split(",") if o.strip()]

    @property
    def pool_size(self) -> int:
        return self.postgres_pool_size or self.max_concurrent_activities


# Half the heartbeat: a call that times out leaves the other half to fail the attempt cleanly
# while the background heartbeat keeps the worker known to be alive.
STORE_TIMEOUT_SHARE = 0.5


@lru_cache
def get_settings() -> Settings:
    return Settings()
