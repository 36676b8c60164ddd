"""Workloads written with ArmoniK's official Python SDK, run unmodified by the agents (agent/)."""
