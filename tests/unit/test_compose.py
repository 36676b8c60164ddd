"""docker-compose.yml cannot run here (no Docker engine): check its shape against the code."""

import json
import re
from pathlib import Path

import yaml

from settings import Settings
from stack.temporal_server import SEARCH_ATTRIBUTES
from telemetry import metrics

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())


def test_compose_has_the_production_services():
    assert set(COMPOSE["services"]) >= {
        "postgres",
        "temporal",
        "temporal-ui",
        "redis",
        "s3",
        "worker",
    }


def test_temporal_persists_in_postgresql():
    temporal = COMPOSE["services"]["temporal"]["environment"]
    assert temporal["DB"].startswith("postgres")
    assert temporal["POSTGRES_SEEDS"] == "postgres"


def test_worker_is_configured_by_the_same_variables_as_make_run():
    env = COMPOSE["services"]["worker"]["environment"]
    fields = set(Settings.model_fields)
    assert {k.lower() for k in env} <= fields
    for required in ("temporal_address", "postgres_dsn", "redis_url", "s3_endpoint", "s3_bucket"):
        assert required.upper() in env


def test_search_attributes_are_registered():
    command = " ".join(COMPOSE["services"]["temporal-setup"]["command"])
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"--name {name} --type {kind}" in command


def test_the_api_serves_armonik_s_port_with_the_control_plane_s_settings():
    api = COMPOSE["services"]["api"]
    assert api["command"] == ["python", "-m", "api"]
    assert "5001:5001" in api["ports"]
    worker_env = COMPOSE["services"]["worker"]["environment"]
    own = {"API_ADDRESS", "API_TLS_CERT", "API_TLS_KEY", "API_TLS_CLIENT_CA"}
    assert {k: v for k, v in api["environment"].items() if k not in own} == worker_env
    assert api["environment"]["API_ADDRESS"].endswith(":5001")


def test_the_api_serves_mutual_tls_with_the_certificates_the_setup_makes():
    api = COMPOSE["services"]["api"]
    setup = COMPOSE["services"]["auth-setup"]
    env = api["environment"]
    assert {k.lower() for k in env} <= set(Settings.model_fields)
    mounted = {v.split(":")[0]: v.split(":")[1] for v in api["volumes"]}
    certs = mounted["./.state/certs"]
    assert env["API_TLS_CERT"] == f"{certs}/server.crt"
    assert env["API_TLS_KEY"] == f"{certs}/server.key"
    assert env["API_TLS_CLIENT_CA"] == f"{certs}/ca.crt"
    assert setup["command"] == ["armonik-sessions", "auth", "dev-users", certs]
    assert f"./.state/certs:{certs}" in setup["volumes"]
    assert api["depends_on"]["auth-setup"]["condition"] == "service_completed_successfully"


def test_only_the_api_is_published_beyond_the_host():
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            if name != "api":
                assert port.startswith("127.0.0.1:"), (name, port)


# --- the `monitoring` profile: Prometheus and Grafana with the dashboard -----------------------

ROOT = Path(__file__).parents[2]
PROMETHEUS = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
DASHBOARD = json.loads((ROOT / "deploy/grafana/dashboards/armonik-sessions.json").read_text())
PROVISIONING = ROOT / "deploy/grafana/provisioning"
SERIES = re.compile(r"\b(?:armonik_sessions|temporal)_[A-Za-z0-9_]*\b")


def mounts(service: str) -> dict[str, str]:
    """A service's bind mounts of the repository, container path → repository path."""
    found = {}
    for volume in COMPOSE["services"][service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = source.removeprefix("./")
    return found


def scraped(job: str) -> list[tuple[str, int]]:
    """The (host, port) pairs a Prometheus job scrapes, from its static or DNS targets."""
    (config,) = [c for c in PROMETHEUS["scrape_configs"] if c["job_name"] == job]
    targets = []
    for static in config.get("static_configs", []):
        for target in static["targets"]:
            host, port = target.rsplit(":", 1)
            targets.append((host, int(port)))
    for dns in config.get("dns_sd_configs", []):
        assert dns["type"] == "A"
        targets += [(name, int(dns["port"])) for name in dns["names"]]
    return targets


def panels(items=None):
    """Every panel of the dashboard, those inside rows included."""
    for panel in DASHBOARD["panels"] if items is None else items:
        yield panel
        yield from panels(panel.get("panels", []))


def expressions() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", [])]


def test_prometheus_and_grafana_run_only_in_the_monitoring_profile():
    services = COMPOSE["services"]
    profiled = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert profiled == {"prometheus": ["monitoring"], "grafana": ["monitoring"]}
    assert services["prometheus"]["image"].startswith("prom/prometheus:v")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    for name in ("prometheus", "grafana"):
        assert not services[name]["image"].endswith(":latest")
        assert all(v.endswith(":ro") for v in services[name]["volumes"] if v.startswith("./"))
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]


def test_grafana_lets_anyone_view_and_takes_its_admin_password_from_the_environment():
    env = COMPOSE["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:-.+\}", env["GF_SECURITY_ADMIN_PASSWORD"])


def test_prometheus_scrapes_the_port_the_worker_and_the_api_serve_metrics_on():
    for service in ("worker", "api"):
        address = COMPOSE["services"][service]["environment"]["METRICS_ADDRESS"]
        host, port = address.rsplit(":", 1)
        assert host == "0.0.0.0", service
        assert scraped(service) == [(service, int(port))]


def test_prometheus_scrapes_every_worker_replica():
    # `--scale worker=N`: the name resolves to one address per replica.
    (config,) = [c for c in PROMETHEUS["scrape_configs"] if c["job_name"] == "worker"]
    assert [d["names"] for d in config["dns_sd_configs"]] == [["worker"]]


def test_prometheus_scrapes_the_temporal_server_where_it_serves_its_metrics():
    endpoint = COMPOSE["services"]["temporal"]["environment"]["PROMETHEUS_ENDPOINT"]
    assert scraped("temporal") == [("temporal", int(endpoint.rsplit(":", 1)[1]))]


def test_the_metrics_endpoints_are_not_published():
    published = {
        port.rsplit(":", 1)[1]
        for service in COMPOSE["services"].values()
        for port in service.get("ports", [])
    }
    metrics_ports = {
        COMPOSE["services"][s]["environment"]["METRICS_ADDRESS"].rsplit(":", 1)[1]
        for s in ("worker", "api")
    } | {COMPOSE["services"]["temporal"]["environment"]["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]}
    assert not published & metrics_ports


def test_prometheus_reads_the_repository_s_configuration():
    assert mounts("prometheus") == {
        "/etc/prometheus/prometheus.yml": "deploy/prometheus/prometheus.yml",
        "/etc/prometheus/alerts.yml": "deploy/prometheus/alerts.yml",
    }


def test_the_stall_alert_is_loaded_and_shown_on_the_dashboard():
    assert PROMETHEUS["rule_files"] == ["/etc/prometheus/alerts.yml"]
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    (group,) = rules["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    stalled = alerts["ArmoniKSessionsOperationStalled"]
    assert metrics.OPERATIONS_STALLED in stalled["expr"]
    assert any(f'alertname="{stalled["alert"]}"' in expr for expr in expressions())


def test_grafana_s_provisioning_points_at_what_the_compose_mounts():
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == "deploy/grafana/provisioning"
    datasources = yaml.safe_load((PROVISIONING / "datasources/prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["uid"] == "prometheus"
    assert datasource["type"] == "prometheus"
    (published,) = COMPOSE["services"]["prometheus"]["ports"]
    assert datasource["url"] == "http://prometheus:" + published.rsplit(":", 1)[1]
    # $__rate_interval is four times this at least: it must be the scrape interval.
    assert datasource["jsonData"]["timeInterval"] == PROMETHEUS["global"]["scrape_interval"]
    providers = yaml.safe_load((PROVISIONING / "dashboards/armonik-sessions.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    directory = provider["options"]["path"]
    assert grafana.get(directory) == "deploy/grafana/dashboards"
    assert (ROOT / grafana[directory] / "armonik-sessions.json").is_file()
    env = COMPOSE["services"]["grafana"]["environment"]
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == f"{directory}/armonik-sessions.json"


def test_the_dashboard_queries_the_provisioned_prometheus():
    assert DASHBOARD["title"] == "ArmoniK Sessions"
    queried = [p for p in panels() if p.get("targets")]
    assert queried
    for panel in queried:
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == "prometheus"


def test_the_dashboard_uses_only_exposed_names_and_every_one_but_the_sums():
    used = {name for expr in expressions() for name in SERIES.findall(expr)}
    ours = {name for name in used if name.startswith(metrics.PREFIX)}
    assert ours <= set(metrics.EXPOSED), ours - set(metrics.EXPOSED)
    sums = {f"{name}_sum" for name in metrics.HISTOGRAMS}
    assert set(metrics.EXPOSED) - sums <= ours, set(metrics.EXPOSED) - sums - ours


def test_the_dashboard_rates_counters_and_takes_the_max_of_sampled_gauges():
    for expr in expressions():
        for name in set(SERIES.findall(expr)):
            selector = re.escape(name) + r"(\{[^}]*\})?"
            if name.endswith(("_total", "_bucket", "_count")):
                # Over Grafana's interval for the scrape interval, summed over the processes.
                wrapped = rf"sum by \([^)]*\) \(rate\({selector}\[\$__rate_interval\]\)\)"
            elif name in metrics.GAUGES:
                # Every worker samples the same figure: one of them, not their sum.
                wrapped = rf"max by \([^)]*\) \({selector}\)"
            else:
                continue
            uses = len(re.findall(rf"\b{re.escape(name)}\b", expr))
            assert len(list(re.finditer(wrapped, expr))) == uses, expr
