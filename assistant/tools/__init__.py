"""Tools the model may call. Each tool is a module registering itself in `registry`."""
