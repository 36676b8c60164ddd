"""docker-compose.yml cannot run here (no Docker engine): check its shape against the code."""

from pathlib import Path

import yaml

from settings import Settings
from stack.temporal_server import SEARCH_ATTRIBUTES

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
