"""TLS credentials from the settings' file paths: the API server's (mutual TLS), the CLI's, and
the Temporal client's."""

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from temporalio.service import TLSConfig

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class TlsSettingsError(ValueError):
    """TLS settings that cannot work: one path of a set given without the others, or a file
    that cannot be read."""


def _read(named: dict[str, str]) -> list[bytes] | None:
    """The files' bytes; None if no path is set. Every path or none."""
    given = {name: path for name, path in named.items() if path}
    if not given:
        return None
    missing = [name for name in named if name not in given]
    if missing:
        raise TlsSettingsError(
            f"{', '.join(given)} set without {', '.join(missing)}: set them all, or none"
        )
    contents = []
    for name, path in named.items():
        try:
            contents.append(Path(path).read_bytes())
        except OSError as error:
            raise TlsSettingsError(f"{name}={path}: {error.strerror or error}") from None
    return contents


@dataclass(frozen=True)
class ServerTls:
    cert: bytes
    key: bytes
    client_ca: bytes

    @classmethod
    def from_settings(cls, settings) -> "ServerTls | None":
        files = _read(
            {
                "API_TLS_CERT": settings.api_tls_cert,
                "API_TLS_KEY": settings.api_tls_key,
                "API_TLS_CLIENT_CA": settings.api_tls_client_ca,
            }
        )
        return None if files is None else cls(*files)

    def credentials(self) -> grpc.ServerCredentials:
        """Mutual TLS: a client without a certificate that the CA signed cannot connect."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.client_ca, require_client_auth=True
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The same mutual TLS for an HTTP server (the gRPC-Web translator's)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=self.client_ca.decode())
        # The ssl module loads a certificate and key from files only; the directory is the
        # user's own (0700) and gone once they are loaded.
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
            cert.write_bytes(self.cert)
            key.write_bytes(self.key)
            context.load_cert_chain(cert, key)
        return context


def _client_files(
    settings, ca: str, cert: str, key: str
) -> tuple[bytes, bytes | None, bytes | None] | None:
    """A client's CA, and its certificate and key for mutual TLS (None without them), from the
    settings named `ca`, `cert` and `key`; None without the CA."""
    values = {name: getattr(settings, name) for name in (ca, cert, key)}
    env = {name: name.upper() for name in values}
    if not values[ca]:
        if values[cert] or values[key]:
            raise TlsSettingsError(f"{env[cert]} and {env[key]} need {env[ca]}")
        return None
    (authority,) = _read({env[ca]: values[ca]})
    pair = _read({env[cert]: values[cert], env[key]: values[key]})
    certificate, private_key = pair if pair is not None else (None, None)
    return authority, certificate, private_key


def client_credentials(settings) -> grpc.ChannelCredentials | None:
    """The CLI's credentials for the API: None without API_CA (plain text); the client
    certificate, when set, for mutual TLS."""
    files = _client_files(settings, "api_ca", "api_client_cert", "api_client_key")
    if files is None:
        return None
    ca, cert, key = files
    return grpc.ssl_channel_credentials(ca, private_key=key, certificate_chain=cert)


def temporal_tls(settings) -> "TLSConfig | bool":
    """Temporal's client TLS from TEMPORAL_TLS_CA (and _CERT, _KEY for mutual TLS); False for
    plain text."""
    from temporalio.service import TLSConfig

    files = _client_files(settings, "temporal_tls_ca", "temporal_tls_cert", "temporal_tls_key")
    if files is None:
        return False
    ca, cert, key = files
    return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key)


def is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0]
    return host in LOOPBACK_HOSTS
