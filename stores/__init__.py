"""One adapter per store of the seed diagrams; each owns its SQL or commands."""
