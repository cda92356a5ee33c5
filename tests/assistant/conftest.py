"""Fixtures of the assistant tests."""
