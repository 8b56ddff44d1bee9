"""The audit trail of key and sign-in events."""
