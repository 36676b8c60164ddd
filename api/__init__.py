"""The gRPC API: ArmoniK's Sessions, Partitions and Versions services, with the stubs and
messages of the `armonik` package, and the control plane's own Operations service for
progress. It calls the client library and reads the stores; nothing below it imports it."""
