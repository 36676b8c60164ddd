"""The compute plane (issue 19): polling agents that run unmodified ArmoniK workers."""
