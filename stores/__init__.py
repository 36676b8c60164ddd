"""The store interfaces: one per participant of the seed diagrams (the Partitions, Sessions,
Tasks and Results tables, the Queue, the ObjectStorage), as ArmoniK.Core has ISessionTable,
ITaskTable, IResultTable, IPartitionTable, IPushQueueStorage and IObjectStorage; plus what makes
each arrow safe to retry (the Database's transactions and the OperationsLog) and what the API
needs of access (the AuditLog and the AuthTable).

Each module owns its interface and its row types, and imports no driver: the adapters
(adapters/: PostgreSQL, Redis, S3) implement them, and adapters/connect.py picks them. The
activities, the engine and the admin tools see the stores through these only; the workflow tests
run the same activities over in-memory ones (tests/workflows/memory.py).

What commits together: the SessionsTable, TasksTable, ResultsTable, PartitionsTable,
OperationsLog, AuditLog and AuthTable are tables of one PostgreSQL database, and a `Tx` of the
Database spans any of them, so a batch's rows, its checkpoint and its guard move together or not
at all. The Queue (Redis) and the ObjectStorage (S3) are outside every transaction: a batch makes
their effect inside its transaction, and commits its checkpoint once they acknowledged it, which
is why every queue and object write here is idempotent.
"""
