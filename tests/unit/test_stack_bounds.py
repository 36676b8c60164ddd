"""What `make run WORKERS=N` gives each worker of what they share."""

from stack.__main__ import _metrics_ports, _shared_bounds


def test_workers_share_the_default_bound_of_s3_deletes(monkeypatch):
    monkeypatch.delenv("S3_DELETES_IN_FLIGHT", raising=False)
    assert _shared_bounds(1) == {}
    assert _shared_bounds(2) == {"S3_DELETES_IN_FLIGHT": 16}
    assert _shared_bounds(64) == {"S3_DELETES_IN_FLIGHT": 1}


def test_a_bound_set_by_the_user_is_each_worker_s(monkeypatch):
    monkeypatch.setenv("S3_DELETES_IN_FLIGHT", "8")
    assert _shared_bounds(4) == {}


def test_the_api_and_each_worker_have_a_metrics_port_of_their_own(monkeypatch):
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert _metrics_ports(2) == {"api": 9464, "worker-1": 9465, "worker-2": 9466}
    monkeypatch.setenv("METRICS_PORT", "0")
    assert _metrics_ports(2) == {}
