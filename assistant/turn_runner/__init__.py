"""Running a turn: the task that streams a reply from the model, publishes it live and
stores it. See docs/architecture.md."""
