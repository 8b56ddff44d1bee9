"""Mail to a key's admins: notices recorded in an outbox, then delivered."""
