"""Loopback fakes of upstream services for the test-suite."""
