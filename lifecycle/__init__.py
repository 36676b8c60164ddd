"""The session lifecycle: statuses, the transition table, and the data that crosses Temporal."""
