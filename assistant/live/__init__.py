"""Live state of replies being generated, shared by every process (Redis) or held in this
one (no REDIS_URL): the event log, the publisher, the follower, stop requests and liveness.
See docs/architecture.md."""
