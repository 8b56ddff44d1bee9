"""The log's monthly partitions on PostgreSQL (a plain table on SQLite): their names, and making them."""

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import text

PARTITION_PREFIX = "api_requests_"


def month_of(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date().replace(day=1)


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def partition_name(month: date) -> str:
    return f"{PARTITION_PREFIX}{month:%Y_%m}"


def is_partition(name: str) -> bool:
    """Whether a table name is one of the log's monthly partitions (which no model describes)."""
    suffix = name.removeprefix(PARTITION_PREFIX)
    return name != suffix and len(suffix) == 7 and suffix[4] == "_" and suffix.replace("_", "").isdigit()


def include_name(name, type_, parent_names) -> bool:
    """Alembic's filter: the partitions are made by the log, not described by a model, so never drift."""
    return not (type_ == "table" and is_partition(name))


def make_partition(connection, month: date) -> bool:
    """Create the partition for `month` (UTC) unless it exists; whether it was made. Workers racing to make
    one wait for each other on an advisory lock, so that the loser finds it made rather than failing."""
    name = partition_name(month)

    def exists() -> bool:
        return connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None

    if exists():
        return False
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('api_requests partitions'))"))
    if exists():
        return False
    start, end = (datetime.combine(day, datetime.min.time(), timezone.utc) for day in (month, next_month(month)))
    connection.execute(text(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF api_requests "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    ))
    return True


def make_partitions_between(connection, first: datetime, last: datetime) -> None:
    """Make the partitions of every month from `first`'s to `last`'s that lacks one (a batch's are rarely two)."""
    month, last_month = month_of(first), month_of(last)
    while month <= last_month:
        make_partition(connection, month)
        month = next_month(month)


def partitions(connection) -> list[tuple[str, date]]:
    """The log's partitions and their months, oldest first."""
    names = connection.execute(text(
        "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
        "WHERE pg_inherits.inhparent = 'api_requests'::regclass"
    )).scalars()
    found = [(name, date(int(name[-7:-3]), int(name[-2:]), 1)) for name in names if is_partition(name)]
    return sorted(found, key=lambda found_partition: found_partition[1])
