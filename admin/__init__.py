"""Admin tools that talk to the stores themselves: the seed tool, the invariant checker, and the
schema migration. They are for operators and tests, not for clients of the control plane."""
