"""The control plane's client side: the armonik-sessions CLI (client/cli/), its one channel to
the gRPC API (client/remote.py), and the live figures of `armonik-sessions top` (client/top.py)."""
