"""Which commits make every worker's kept keys stale (floqast/keys/cache.py): those that change a row of a model
declaring AffectsKeyChecks, but for its UNCHECKED_COLUMNS, or run an UPDATE or DELETE on its table without the
execution option keeps_keys_as_checked. The listeners are attached by cache.init_app: nothing at import."""

from flask import current_app
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

# The session's note that its transaction changed how a pull checks a key, for after_commit.
CHANGED = "floqast_keys_changed"


class AffectsKeyChecks:
    """A model whose rows a pull's key check reads (a key, its team): each commit that changes one writes the key
    change mark, so that no worker uses a kept key that the change could refuse."""

    # Columns whose change leaves every key's check as it was.
    UNCHECKED_COLUMNS: frozenset[str] = frozenset()


def changes_a_check(instance) -> bool:
    """Whether a change about to be flushed could change how a pull checks a key."""
    return isinstance(instance, AffectsKeyChecks) and any(
        attribute.history.has_changes() for attribute in inspect(instance).attrs
        if attribute.key not in instance.UNCHECKED_COLUMNS
    )


def _note_changed_instances(session, flush_context, instances) -> None:
    if any(isinstance(instance, AffectsKeyChecks) for instance in session.deleted) or any(
        changes_a_check(instance) for instance in session.dirty
    ):
        session.info[CHANGED] = True


def _note_bulk_changes(state) -> None:
    if (
        (state.is_update or state.is_delete)
        and state.bind_mapper is not None
        and issubclass(state.bind_mapper.class_, AffectsKeyChecks)
        and not state.execution_options.get("keeps_keys_as_checked")
    ):
        state.session.info[CHANGED] = True


def _write_the_mark(session) -> None:
    if session.info.pop(CHANGED, False) and (cache := current_app.extensions.get("key_cache")) is not None:
        cache.changed()


def _forget_the_note(session) -> None:
    session.info.pop(CHANGED, None)


LISTENERS = (
    ("before_flush", _note_changed_instances),
    ("do_orm_execute", _note_bulk_changes),
    ("after_commit", _write_the_mark),
    ("after_rollback", _forget_the_note),
)


def listen() -> None:
    """Attach the listeners to every session, once per process."""
    for name, listener in LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
