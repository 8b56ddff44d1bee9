"""How the commands word what they counted."""


def plural(count: int, noun: str) -> str:
    """'1 user', '2 users'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
