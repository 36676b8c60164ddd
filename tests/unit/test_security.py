"""The security settings and names that need no server: plain text only on loopback, TLS
settings given whole or not at all, one permission per RPC, the development roles, and the
development certificates."""

import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from api.server import ListenRefused, check_listening
from security.certs import DEV_USERS, ensure_dev_certs, fingerprint
from security.permissions import ALL, DEV_ROLES, PERMISSIONS, READ_VERBS, SERVICES
from security.tls import ServerTls, TlsSettingsError, client_credentials, temporal_tls
from settings import Settings


@pytest.mark.parametrize("address", ["127.0.0.1:5001", "localhost:5001", "[::1]:5001"])
def test_plain_text_is_served_on_loopback(address):
    check_listening(Settings(api_address=address), None)


def test_plain_text_beyond_loopback_is_refused_unless_insecure():
    with pytest.raises(ListenRefused, match="API_INSECURE"):
        check_listening(Settings(api_address="0.0.0.0:5001"), None)
    check_listening(Settings(api_address="0.0.0.0:5001", api_insecure=True), None)
    # gRPC-Web is the same API: the same rule.
    with pytest.raises(ListenRefused, match=r"0\.0\.0\.0:5002"):
        check_listening(Settings(grpc_web_address="0.0.0.0:5002"), None)
    check_listening(Settings(grpc_web_address="127.0.0.1:5002"), None)


def test_the_api_process_refuses_plain_text_beyond_loopback_and_exits_2(tmp_path):
    ran = subprocess.run(
        [sys.executable, "-m", "api"],
        env={"API_ADDRESS": "0.0.0.0:0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert ran.returncode == 2, ran
    assert "refusing to serve the API in plain text on 0.0.0.0:0" in ran.stderr, ran.stderr


def test_tls_settings_are_all_or_nothing(tmp_path):
    certs = ensure_dev_certs(tmp_path / "certs")
    assert ServerTls.from_settings(Settings()) is None
    with pytest.raises(TlsSettingsError, match="API_TLS_CERT, API_TLS_KEY set without"):
        ServerTls.from_settings(
            Settings(api_tls_cert=str(certs / "server.crt"), api_tls_key=str(certs / "server.key"))
        )
    with pytest.raises(TlsSettingsError, match="No such file"):
        ServerTls.from_settings(
            Settings(
                api_tls_cert=str(certs / "server.crt"),
                api_tls_key=str(certs / "missing.key"),
                api_tls_client_ca=str(certs / "ca.crt"),
            )
        )
    with pytest.raises(TlsSettingsError, match="need API_CA"):
        client_credentials(Settings(api_client_cert=str(certs / "admin.crt")))
    assert client_credentials(Settings()) is None
    assert client_credentials(Settings(api_ca=str(certs / "ca.crt"))) is not None
    assert temporal_tls(Settings()) is False
    with pytest.raises(TlsSettingsError, match="need TEMPORAL_TLS_CA"):
        temporal_tls(Settings(temporal_tls_key=str(certs / "admin.key")))


def test_every_rpc_has_one_permission_named_service_colon_rpc():
    methods = {f"/{s.full_name}/{m.name}" for s in SERVICES for m in s.methods}
    assert set(PERMISSIONS) == methods
    assert PERMISSIONS["/armonik.api.grpc.v1.sessions.Sessions/PurgeSession"] == (
        "Sessions:PurgeSession"
    )
    assert len(set(PERMISSIONS.values())) == len(PERMISSIONS)


def test_the_development_roles():
    assert DEV_ROLES["admin"] == ALL
    assert set(ALL) - set(DEV_ROLES["operator"]) == {
        "Sessions:PurgeSession",
        "Sessions:DeleteSession",
    }
    assert all(p.split(":")[1].startswith(READ_VERBS) for p in DEV_ROLES["reader"])
    for read in ("Tasks:CountTasksByStatus", "Results:DownloadResultData", "Tasks:ListTasks"):
        assert read in DEV_ROLES["reader"]
    assert "Tasks:SubmitTasks" not in DEV_ROLES["reader"]
    assert "Sessions:GetSession" in DEV_ROLES["reader"]
    assert "Sessions:ListSessions" in DEV_ROLES["reader"]


def test_the_development_certificates(tmp_path):
    certs = ensure_dev_certs(tmp_path / "certs")
    names = {p.name for p in certs.iterdir()}
    assert names == {
        "ca.crt",
        "server.crt",
        "server.key",
        *(f"{u}.{ext}" for u in DEV_USERS for ext in ("crt", "key")),
    }
    ca = x509.load_pem_x509_certificate((certs / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((certs / "server.crt").read_bytes())
    server.verify_directly_issued_by(ca)
    alternative = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in alternative.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in alternative.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for user in DEV_USERS:
        client = x509.load_pem_x509_certificate((certs / f"{user}.crt").read_bytes())
        client.verify_directly_issued_by(ca)
        assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user
        usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert (certs / f"{user}.key").stat().st_mode & 0o077 == 0
    # Made once: a second call keeps them.
    before = fingerprint((certs / "admin.crt").read_bytes())
    ensure_dev_certs(certs)
    assert fingerprint((certs / "admin.crt").read_bytes()) == before
