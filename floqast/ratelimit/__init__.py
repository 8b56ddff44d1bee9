"""Rate limits and request caps: storage, named limits, headers."""
