"""Permissions as ArmoniK names them, `Service:Rpc` (`Sessions:PurgeSession`), one for each RPC
of the services the API serves, and the development roles that `make run TLS=1` sets up.

Health checking and reflection need no permission: load balancers and grpcurl use them, and
they tell nothing about sessions.
"""

from armonik.protogen.client import (
    applications_service_pb2,
    auth_service_pb2,
    events_service_pb2,
    health_checks_service_pb2,
    partitions_service_pb2,
    results_service_pb2,
    sessions_service_pb2,
    tasks_service_pb2,
    versions_service_pb2,
)

from lifecycle.registry import OPERATIONS
from lifecycle.statuses import Operation
from wire.protos import operations_pb2

SERVICES = [
    sessions_service_pb2.DESCRIPTOR.services_by_name["Sessions"],
    partitions_service_pb2.DESCRIPTOR.services_by_name["Partitions"],
    versions_service_pb2.DESCRIPTOR.services_by_name["Versions"],
    operations_pb2.DESCRIPTOR.services_by_name["Operations"],
    tasks_service_pb2.DESCRIPTOR.services_by_name["Tasks"],
    results_service_pb2.DESCRIPTOR.services_by_name["Results"],
    events_service_pb2.DESCRIPTOR.services_by_name["Events"],
    applications_service_pb2.DESCRIPTOR.services_by_name["Applications"],
    auth_service_pb2.DESCRIPTOR.services_by_name["Authentication"],
    health_checks_service_pb2.DESCRIPTOR.services_by_name["HealthChecksService"],
]

# The full gRPC method path ("/armonik.api.grpc.v1.sessions.Sessions/PurgeSession") of every
# RPC that needs a permission, and the permission's name.
PERMISSIONS: dict[str, str] = {
    f"/{service.full_name}/{method.name}": f"{service.name}:{method.name}"
    for service in SERVICES
    for method in service.methods
}
ALL = sorted(PERMISSIONS.values())

DESTRUCTIVE = {OPERATIONS[Operation.PURGE].permission, OPERATIONS[Operation.DELETE].permission}
# What only looks: getting, listing, counting, downloading, checking health, watching.
READ_VERBS = ("Get", "List", "Count", "Download", "Check", "Watch")
READS = {p for p in ALL if p.split(":")[1].startswith(READ_VERBS)}
# The RPCs that change something, every one that does not only look (the session operations, a
# submission, a cancellation, a result's creation, upload, import or data deletion): who asked
# for each, and what they were answered, goes in the audit trail.
MUTATING = set(ALL) - READS

# The development roles: admin may do everything, operator all but destroy data, reader only
# look. Each development user has the role of its name.
DEV_ROLES: dict[str, list[str]] = {
    "admin": ALL,
    "operator": sorted(set(ALL) - DESTRUCTIVE),
    "reader": sorted(READS),
}
