"""armonik-sessions: drive sessions through their life from a terminal.

What each operation accepts and does, and the invariants `check` checks: docs/lifecycle.md.

The session commands and `partition list` / `partition get` are a thin client of the control
plane's gRPC API (ArmoniK's Sessions and Partitions services, and the control plane's Operations
service for progress), at --endpoint (default: the API_ADDRESS setting): they connect to nothing
else. The admin commands (seed, check, queue, migrate, partition create) talk to the stores
directly, from the stores' settings (POSTGRES_DSN, REDIS_URL, S3_*).

Every session command takes --json and then prints the session as one JSON object on stdout;
for an operation, the object also says whether a later operation superseded it
("superseded": true|false, or null when the CLI could not read the operation's end). Exit codes:
1 for a refusal or any other error the API answers (one line on stderr, `error: <Status>:
<details>`); 2 for bad arguments, refused before any call or answered INVALID_ARGUMENT; 3 for an
API that cannot be reached or is lost on the way (one line on stderr; an operation already sent
goes on server-side, and running the same command again joins it); 130 when interrupted.

The modules, by job: app.py the command tree and main; sessions.py the session and partition
commands over the API (api_runner.py runs them, watch.py draws an operation's progress while its
RPC runs); admin.py and auth.py the admin commands on the stores (store_runner.py runs them);
top.py the live figures; runner.py one run and its exit; output.py what is printed; options.py
the options several commands share.
"""

from client.cli.app import app, main

__all__ = ["app", "main"]
