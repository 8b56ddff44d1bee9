"""The key domain: format, model rules, the one verifier, actions, kept keys, leaks."""
