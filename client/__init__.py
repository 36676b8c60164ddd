"""A thin client of the control plane: start an operation, wait for it, read its progress."""
