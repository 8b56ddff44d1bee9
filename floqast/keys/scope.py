"""Which entities a key reads: its team's entities to choose from, a choice checked against them, and a choice in
words. The pull's own check reads only the key's row (KeyRules.cannot_read, the Filters of floqast/api/params.py)."""

from sqlalchemy import func, select

from floqast.analytics.models import Entity
from floqast.extensions import db


class NotTeamEntity(ValueError):
    """A chosen entity is not one of the key's team's."""


def team_entities(team_id: int) -> dict[int, str]:
    """The team's entities, id to name, in name order."""
    return dict(db.session.execute(
        select(Entity.id, Entity.name).where(Entity.team_id == team_id).order_by(Entity.name, Entity.id)).all())


def entity_total_for(keys) -> int | None:
    """How many entities the team of `keys` has, for saying "3 of 12 entities": counted only when one of them is
    limited to entities (None otherwise: nothing to say it of)."""
    limited = next((key for key in keys if key.entity_ids is not None), None)
    if limited is None:
        return None
    return db.session.scalar(select(func.count()).select_from(Entity).where(Entity.team_id == limited.team_id))


def checked(team_id: int, entity_ids) -> list[int] | None:
    """A choice of entities as a key stores it (each once, in id order; None: all of them, later ones too), or
    NotTeamEntity when one is not the team's."""
    if entity_ids is None:
        return None
    chosen = sorted(set(entity_ids))
    if not chosen:
        raise NotTeamEntity("Choose at least one entity, or All entities.")
    if unknown := set(chosen) - set(team_entities(team_id)):
        raise NotTeamEntity(f"Entity {min(unknown)} is not one of the team's.")
    return chosen


def described(entity_ids: list[int] | None, names: dict[int, str]) -> str:
    """A choice of entities as the audit trail words it: by name (an entity since gone, by id)."""
    if entity_ids is None:
        return "all entities"
    return ", ".join(names.get(entity_id, f"entity {entity_id}") for entity_id in entity_ids)


def rate_described(rate_limit_per_minute: int | None) -> str:
    return "the team default" if rate_limit_per_minute is None else f"{rate_limit_per_minute:,} requests a minute"
