"""Development certificates for `make run TLS=1`: a CA, the server's certificate (for 127.0.0.1
and localhost) and one client certificate per development user, made with `cryptography`.

They are for a machine of one's own. A deployment brings its own CA and certificates, and points
the TLS settings at them (docs/security.md).
"""

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The development users, each with a client certificate whose CN is the user's name.
DEV_USERS = ("admin", "operator", "reader")
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, in PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


class Authority:
    """A certificate authority that signs server and client certificates."""

    def __init__(self, name: str = "armonik-sessions development CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def server(self, *hosts: str) -> Issued:
        """A server certificate for these host names and IP addresses."""
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._issue(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, names)

    def client(
        self,
        common_name: str,
        *,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> Issued:
        """A client certificate whose CN names the user."""
        return self._issue(common_name, ExtendedKeyUsageOID.CLIENT_AUTH, [], not_before, not_after)

    def _issue(
        self,
        common_name: str,
        usage: x509.ObjectIdentifier,
        names: list[x509.GeneralName],
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - datetime.timedelta(minutes=5))
            .not_valid_after(not_after or now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        return Issued(
            certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


def fingerprint(cert_pem: bytes) -> str:
    """The certificate's SHA-1 fingerprint in lower-case hex, as nginx's
    `$ssl_client_fingerprint` (which ArmoniK's ingress passes on) spells it."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    # An identifier of a certificate the CA already verified, not a signature: SHA-1 is what
    # the ingress and ArmoniK's tools print.
    return hashlib.sha1(der).hexdigest()


def ensure_dev_certs(directory: Path) -> Path:
    """The development certificates in `directory`, made if the CA is missing: ca.crt,
    server.crt/key, and <user>.crt/key for each development user. Keys are readable by their
    owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.crt").exists():
        return directory
    authority = Authority()
    _write(directory, "server", authority.server("127.0.0.1", "localhost"))
    for user in DEV_USERS:
        _write(directory, user, authority.client(user))
    # The CA last: its presence says the set is whole.
    (directory / "ca.crt").write_bytes(authority.cert_pem)
    return directory


def _write(directory: Path, name: str, issued: Issued) -> None:
    key = directory / f"{name}.key"
    key.touch(mode=0o600)
    key.chmod(0o600)
    key.write_bytes(issued.key_pem)
    (directory / f"{name}.crt").write_bytes(issued.cert_pem)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
