"""AuthTable: the certificates, users and roles that say who may call which RPC (ArmoniK's
authentication data: a certificate names a user, a user has roles, a role grants
permissions)."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Identity:
    """The user a certificate names, and every permission its roles grant."""

    user: str
    permissions: frozenset[str]
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class User:
    name: str
    roles: list[str]
    # (CN, fingerprint); an empty fingerprint matches any certificate with the CN.
    certificates: list[tuple[str, str]]


@dataclass(frozen=True)
class Role:
    name: str
    permissions: list[str]


class AuthTable(Protocol):
    async def identify(self, common_name: str, fingerprint: str) -> Identity | None:
        """The user of a certificate: the entry for exactly this certificate if there is one,
        else the entry for its CN alone; None if neither."""
        ...

    async def put_role(self, name: str, permissions: list[str]) -> None: ...

    async def put_user(self, name: str, roles: list[str]) -> None: ...

    async def add_certificate(self, user: str, common_name: str, fingerprint: str = "") -> None: ...

    async def remove_user(self, name: str) -> bool: ...

    async def remove_role(self, name: str) -> bool: ...

    async def users(self) -> list[User]: ...

    async def roles(self) -> list[Role]: ...
