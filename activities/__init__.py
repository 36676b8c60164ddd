"""Retriable activities: each is one arrow of a seed diagram, run against one store."""
