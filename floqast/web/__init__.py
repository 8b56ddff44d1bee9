"""HTTP plumbing every blueprint shares: request class, converters, security headers, error handlers."""
