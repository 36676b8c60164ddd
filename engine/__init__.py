"""The engine: starting and joining operations (engine/operations.py), and running them
(engine/workers.py builds the Temporal worker of the workflows and their activities). The entry
points (the API server, the worker process, the bench) sit above it, the workflows below."""
