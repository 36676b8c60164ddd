"""Every store, as one set: what the activities are bound to, and what adapters/connect.py
connects (and the workflow tests make in memory)."""

from dataclasses import dataclass

from stores.audit import AuditLog
from stores.auth import AuthTable
from stores.database import Database
from stores.events import ChangeFeed
from stores.leases import Leases
from stores.objects import ObjectStorage
from stores.operations import OperationsLog
from stores.partitions import PartitionsTable
from stores.queue import Queue
from stores.results import ResultsTable
from stores.sessions import SessionsTable
from stores.tasks import TasksTable


@dataclass
class StoreSet:
    db: Database
    partitions: PartitionsTable
    sessions: SessionsTable
    tasks: TasksTable
    results: ResultsTable
    operations: OperationsLog
    audit: AuditLog
    auth: AuthTable
    queue: Queue
    objects: ObjectStorage
    # What the Events service streams; only the API process opens it.
    changes: ChangeFeed | None = None
    # The agents' leases; None where no agent runs (the workflow tests' fakes).
    leases: Leases | None = None
