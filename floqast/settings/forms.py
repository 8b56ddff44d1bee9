"""The Create New Key, key edit, allowed addresses, Roll API key, Regenerate and Suspend forms, the key request form
and its approval and denial, and their rules."""

import re
from datetime import date, timedelta

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, StopValidation
from wtforms.widgets import CheckboxInput, DateInput, ListWidget

from floqast.keys import allowlist, tokens
from floqast.keys.actions import NAME_TAKEN, ROLL_OVERLAPS
from floqast.keys.models import (
    DESCRIPTION_LENGTH,
    SUSPEND_REASON_LENGTH,
    Service,
    name_key,
    name_problem,
    normal_name,
    normal_text,
    refused_character,
)
from floqast.keys.policy import KeyPolicy
from floqast.keys.requests import DENIAL_REASON_LENGTH, JUSTIFICATION_LENGTH

EXPIRATION_CHOICES = [
    SelectChoice("365", "365 days"),
    SelectChoice("90", "90 days"),
    SelectChoice("60", "60 days"),
    SelectChoice("30", "30 days"),
    SelectChoice("custom", "Custom date"),
    SelectChoice("never", "No expiration"),
]
DEFAULT_EXPIRATION = "90"
CUSTOM_DATE_MAX_YEARS = 5
KEY_IN_TEXT = "This holds an API key. Never put a key here: everyone who can see the key's page would read it."
# A description may run over several lines, and hold tabs.
LINE_BREAKS = {"\n", "\t"}
LINE_BREAK = re.compile("\r\n|[\r\u2028\u2029]")
# Only this form of ISO 8601: date.fromisoformat also reads 20270105 and 2027W011.
CUSTOM_DATE_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _normal_name(value):
    return normal_name(value) if isinstance(value, str) else value


def _normal_description(value):
    """Trimmed, line breaks (line and paragraph separators too) as \\n; None when empty (no description)."""
    if not isinstance(value, str):
        return value
    return normal_text(LINE_BREAK.sub("\n", value)) or None


def name_field(label: str) -> StringField:
    return StringField(
        label,
        filters=[_normal_name],
        validators=[DataRequired("Enter a name for the key."), Length(max=100, message="Use at most 100 characters.")],
    )


def description_field() -> TextAreaField:
    return free_text_field("Description (optional)", DESCRIPTION_LENGTH)


def years_later(day: date, years: int) -> date:
    """The same calendar day `years` on; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def preset_expiry(choice: str, today: date) -> date | None:
    """The expiration date a preset choice gives a key created `today`; None for No expiration."""
    return None if choice == "never" else today + timedelta(days=int(choice))


def shown_day(day: date) -> str:
    """A date as the pages show it, like "Nov 27, 2026"."""
    return f"{day:%b} {day.day}, {day.year}"


def allowed_expiration_choices(policy: KeyPolicy, today: date, previewed: str | None = None) -> list[SelectChoice]:
    """The Expiration choices the policy allows: the presets that keep it, each with the last day it gives a key for
    the dialog's "Works through" line, and a custom date (checked when sent); the choice the line was written for
    is marked `previewed`, so that a page without JavaScript can hide the line once another is picked."""
    choices = []
    for choice in EXPIRATION_CHOICES:
        expires_on = None if choice.value == "custom" else preset_expiry(choice.value, today)
        if choice.value != "custom" and policy.refusal(expires_on, today) is not None:
            continue
        render_kw = {"data-works-through": shown_day(expires_on)} if expires_on else {}
        if choice.value == previewed:
            render_kw["data-previewed"] = ""
        choices.append(SelectChoice(choice.value, choice.label, render_kw=render_kw))
    return choices


def expiration_choice(expires_on: date | None, today: date, offered: list[str]) -> tuple[str, str | None]:
    """The Expiration choice, and custom date, that give a key made `today` the expiry `expires_on`."""
    if expires_on is None and "never" in offered:
        return "never", None
    if expires_on is not None and (preset := str((expires_on - today).days)) in offered:
        return preset, None
    return "custom", None if expires_on is None else expires_on.isoformat()


class ExpirationField(SelectField):
    """A select that offers what the policy allows but knows every choice, so that a sent choice the policy
    refuses gets the policy's message rather than "Not a valid choice"."""

    def pre_validate(self, form):
        if self.data not in {choice.value for choice in EXPIRATION_CHOICES}:
            raise StopValidation(self.gettext("Not a valid choice."))


def check_free_text(text: str | None, what: str, *, one_line: bool = False) -> None:
    """ValidationError when text typed by an admin or a requester (a description, a justification, a reason) holds a
    control or invisible formatting character (a line break too, when `one_line`), or an API key."""
    if not text:
        return
    if found := refused_character(text, frozenset() if one_line else LINE_BREAKS):
        lines = "on one line" if one_line else "and line breaks"
        raise ValidationError(f"The {what} holds {found}. Use text {lines}; no control characters "
                              "or invisible formatting characters.")
    if tokens.contains_key(text):
        raise ValidationError(KEY_IN_TEXT)


def free_text_field(label: str, length: int, required: str | None = None) -> TextAreaField:
    """Text typed over several lines, trimmed, at most `length` characters; `required` is the message when empty."""
    validators = [DataRequired(required)] if required else []
    return TextAreaField(label, filters=[_normal_description],
                         validators=[*validators, Length(max=length, message=f"Use at most {length} characters.")])


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AllowedIpsField(TextAreaField):
    """Allowed IP addresses as an admin types them; its data is their stored form (None: any address)."""

    def __init__(self, label="Allowed IP addresses", **kwargs):
        super().__init__(label, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = allowlist.parse(valuelist[0])  # a ValueError is the field's error

    def _value(self) -> str:
        if self.process_errors:
            return self.raw_data[0]  # as typed, to be corrected
        return "\n".join(allowlist.shown(self.data))


class AllowedIpsForm(FlaskForm):
    allowed_ips = AllowedIpsField()


ALL_ENTITIES = "all"
ONLY_THESE = "only"
CHOOSE_AN_ENTITY = "Choose at least one entity, or All entities."


def entity_fields() -> tuple[RadioField, CheckboxesField]:
    """All entities or Only these, and the team's entities to check, for a form to place among its own fields."""
    return (RadioField("Entities", choices=[SelectChoice(ALL_ENTITIES, "All entities"),
                                            SelectChoice(ONLY_THESE, "Only these entities")], default=ALL_ENTITIES),
            CheckboxesField("Only these entities", coerce=int, choices=[]))


class EntitiesForm(FlaskForm):
    """Which of its team's entities a key reads: all of them (those added later too) or the ones checked."""

    entities, entity_ids = entity_fields()

    def __init__(self, *args, entities: dict[int, str], obj=None, **kwargs):
        """`entities`: the team's, id to name, in the order shown; `obj`: the key whose choice is shown."""
        if obj is not None:
            kwargs.setdefault("entities", ALL_ENTITIES if obj.entity_ids is None else ONLY_THESE)
        super().__init__(*args, obj=obj, **kwargs)
        self.entity_ids.choices = [SelectChoice(entity_id, name) for entity_id, name in entities.items()]

    def validate_entities(self, field):
        if field.data not in (ALL_ENTITIES, ONLY_THESE):
            raise ValidationError("Choose All entities or Only these entities.")

    def validate_entity_ids(self, field):
        if self.entities.data == ONLY_THESE and not field.data:
            raise ValidationError(CHOOSE_AN_ENTITY)

    def chosen_entity_ids(self) -> list[int] | None:
        """The entities chosen, in id order; None for all of them."""
        return None if self.entities.data != ONLY_THESE else sorted(set(self.entity_ids.data))


class RateLimitField(StringField):
    """Requests per minute: empty for the team default, else a whole number up to the operator's ceiling; its data is
    the number or None."""

    def __init__(self, label="Requests per minute", **kwargs):
        super().__init__(label, **kwargs)

    @property
    def ceiling(self) -> int:
        return current_app.config["API_RATE_LIMIT_MAX"]

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        typed = valuelist[0].strip().replace(",", "")
        if not typed:
            self.data = None
            return
        if not (typed.isascii() and typed.isdigit() and len(typed) <= 9) or not 1 <= int(typed) <= self.ceiling:
            self.data = None
            raise ValueError(f"Enter a whole number from 1 to {self.ceiling:,}, or leave it empty for the team "
                             "default.")
        self.data = int(typed)

    def _value(self) -> str:
        if self.process_errors:
            return self.raw_data[0]  # as typed, to be corrected
        return "" if self.data is None else str(self.data)


class KeyLimitsForm(EntitiesForm):
    """A key's entities and its own rate limit, on its page."""

    rate_limit_per_minute = RateLimitField()


class KeyNameForm(FlaskForm):
    """A key's name and description, with the rules both forms share: the name is free among the team's working
    keys (`taken_names`), and neither holds control or invisible formatting characters."""

    def __init__(self, *args, taken_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.taken_names = {name_key(name) for name in taken_names}

    def validate_name(self, field):
        if problem := name_problem(field.data):
            raise ValidationError(problem)
        if tokens.contains_key(field.data):
            raise ValidationError(KEY_IN_TEXT)
        if name_key(field.data) in self.taken_names:
            raise ValidationError(NAME_TAKEN)

    def validate_description(self, field):
        check_free_text(field.data, "description")


def self_roll_field() -> BooleanField:
    """Off by default: a script holding the key may then replace it (POST /api/v1/me/roll)."""
    return BooleanField("Scripts may roll this key")


class EditKeyForm(KeyNameForm):
    name = name_field("Key name")
    description = description_field()
    self_roll = self_roll_field()


def expiry_fields() -> tuple[ExpirationField, StringField]:
    """The Expiration choice and its custom date, for a form to place among its own fields."""
    return ExpirationField("Expiration"), StringField("Expiration date", widget=DateInput())


class ExpiryForm(FlaskForm):
    """When a key made today expires: a preset, a custom date or none, as far as the team's policy allows."""

    expiration, custom_date = expiry_fields()

    def __init__(self, *args, today: date, policy: KeyPolicy, suggested: date | None | str = DEFAULT_EXPIRATION,
                 **kwargs):
        """`suggested`: the expiry chosen until the admin picks another, a preset's value or a date (None: no
        expiration); a choice the policy does not offer falls back to its first."""
        offered = [choice.value for choice in allowed_expiration_choices(policy, today)]
        if isinstance(suggested, str):
            choice, custom_date = (suggested if suggested in offered else offered[0]), None
        else:
            choice, custom_date = expiration_choice(suggested, today, offered)
        kwargs.setdefault("expiration", choice)
        kwargs.setdefault("custom_date", custom_date)
        super().__init__(*args, **kwargs)
        self.today = today
        self.use_policy(policy)

    def use_policy(self, policy: KeyPolicy) -> None:
        """Offer, and accept, only the expirations that `policy` allows."""
        self.policy = policy
        self.expiration.choices = allowed_expiration_choices(policy, self.today, previewed=self.expiration.data)

    @property
    def earliest_custom_date(self) -> date:
        return self.today + timedelta(days=1)

    @property
    def latest_custom_date(self) -> date:
        latest = years_later(self.today, CUSTOM_DATE_MAX_YEARS)
        policy_latest = self.policy.latest_expiry(self.today)
        return latest if policy_latest is None else min(latest, policy_latest)

    def validate_expiration(self, field):
        if field.data != "custom":
            self._keep_policy(preset_expiry(field.data, self.today))

    def _keep_policy(self, expires_on: date | None) -> None:
        refusal = self.policy.refusal(expires_on, self.today)
        if refusal:
            raise ValidationError(refusal)

    def validate_custom_date(self, field):
        if self.expiration.data != "custom":
            return
        if not field.data:
            raise ValidationError("Choose the date the key expires.")
        try:
            if not CUSTOM_DATE_FORMAT.fullmatch(field.data):
                raise ValueError
            chosen = date.fromisoformat(field.data)
        except ValueError:
            raise ValidationError("Enter the date as YYYY-MM-DD.") from None
        if chosen < self.earliest_custom_date:
            raise ValidationError("Choose a date after today.")
        self._keep_policy(chosen)
        if chosen > self.latest_custom_date:
            raise ValidationError(f"Choose a date no later than {self.latest_custom_date:%B %-d, %Y}.")

    def expires_on(self) -> date | None:
        """The last day the key works, in the team's time zone; None for no expiration."""
        if self.expiration.data == "custom":
            return date.fromisoformat(self.custom_date.data)
        return preset_expiry(self.expiration.data, self.today)

    @property
    def works_through(self) -> date | None:
        """The last day the key would work with the expiry chosen as the form stands (None: none, or a custom date
        that is not a date yet), for the "Works through" line."""
        if self.expiration.data == "never" or self.custom_date.errors:
            return None
        try:
            return self.expires_on()
        except (TypeError, ValueError):
            return None


class CreateKeyForm(KeyNameForm, ExpiryForm, EntitiesForm):
    name = name_field("New API Key Name")
    description = description_field()
    expiration, custom_date = expiry_fields()  # in the dialog's order, which the first error's focus follows
    services = CheckboxesField(
        "Select API Services",
        choices=[SelectChoice(service.value, service.label) for service in Service],
        validators=[DataRequired("Select at least one API service.")],
    )
    entities, entity_ids = entity_fields()
    allowed_ips = AllowedIpsField()
    self_roll = self_roll_field()


class RegenerateKeyForm(ExpiryForm):
    """A new key in place of an expired one: only its expiry is chosen (fields prefixed: the Create New Key dialog's
    are in the same page)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="regenerate", **kwargs)


class RollKeyForm(ExpiryForm):
    """How long the old key keeps working, and when the new one expires (fields prefixed, as RegenerateKeyForm's)."""

    overlap = SelectField(
        "Old key keeps working",
        choices=[SelectChoice(str(overlap // timedelta(hours=1)), label) for overlap, label in ROLL_OVERLAPS.items()],
        default="24",
    )
    expiration, custom_date = expiry_fields()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="roll", **kwargs)

    def overlap_time(self) -> timedelta:
        """How long the old key keeps working beside its replacement."""
        return timedelta(hours=int(self.overlap.data))


ALL_ENTITIES = "all"


class EntitiesField(CheckboxesField):
    """A checkbox per entity of the team, and All entities when it is offered; entity_ids() reads the choice."""

    def __init__(self, label="Entities", **kwargs):
        super().__init__(label, validators=[DataRequired("Choose the entities the key may read, or All entities.")],
                         **kwargs)

    def offer(self, entities: dict[int, str], everything: bool) -> None:
        """Offer `entities`, id to name (the team's, or those a request asked for), and All entities when
        `everything`."""
        every = [SelectChoice(ALL_ENTITIES, "All entities")] if everything else []
        self.choices = every + [SelectChoice(str(entity_id), name) for entity_id, name in entities.items()]

    def entity_ids(self) -> list[int] | None:
        """None for All entities (whatever else is ticked), else the ids ticked."""
        return None if ALL_ENTITIES in self.data else sorted(int(value) for value in self.data)


JUSTIFICATION_REQUIRED = "Say what the key is for and why you need it: an admin reads this before approving."
DENIAL_REASON_REQUIRED = "Give the reason for denying: the person who asked reads it."


class ApproveRequestForm(FlaskForm):
    """What an approval grants: the services, entities and expiration asked for, or fewer, or an earlier date."""

    services = CheckboxesField("Services", validators=[DataRequired("Approve at least one service.")])
    entities = EntitiesField()
    expires_on = StringField("Expires on", widget=DateInput())

    def __init__(self, *args, key_request, entities, today: date, **kwargs):
        super().__init__(*args, prefix=f"approve-{key_request.id}", **kwargs)
        self.today = today
        self.services.choices = [SelectChoice(service.value, service.label) for service in key_request.service_list]
        self.entities.offer(entities, everything=key_request.entity_ids is None)
        if not self.is_submitted():
            self.services.data = list(key_request.services)
            self.entities.data = ([ALL_ENTITIES] if key_request.entity_ids is None
                                  else [str(entity_id) for entity_id in key_request.entity_ids])
            self.expires_on.data = key_request.expires_on and key_request.expires_on.isoformat()

    def validate_expires_on(self, field):
        if not field.data:
            return
        if not CUSTOM_DATE_FORMAT.fullmatch(field.data):
            raise ValidationError("Enter the date as YYYY-MM-DD, or leave it empty for no expiration.")
        try:
            chosen = date.fromisoformat(field.data)
        except ValueError:
            raise ValidationError("Enter the date as YYYY-MM-DD, or leave it empty for no expiration.") from None
        if chosen <= self.today:
            raise ValidationError("Choose a date after today.")

    def expiry(self) -> date | None:
        return date.fromisoformat(self.expires_on.data) if self.expires_on.data else None


class DenyRequestForm(FlaskForm):
    reason = free_text_field("Reason", DENIAL_REASON_LENGTH, required=DENIAL_REASON_REQUIRED)

    def __init__(self, *args, key_request, **kwargs):
        super().__init__(*args, prefix=f"deny-{key_request.id}", **kwargs)

    def validate_reason(self, field):
        check_free_text(field.data, "reason")


class RequestKeyForm(KeyNameForm, ExpiryForm):
    """A Manager's or User's request for a key: what it is for, and why."""

    name = name_field("Key name")
    expiration, custom_date = expiry_fields()
    services = CheckboxesField(
        "API services",
        choices=[SelectChoice(service.value, service.label) for service in Service],
        validators=[DataRequired("Select at least one API service.")],
    )
    entities = EntitiesField()
    justification = free_text_field("Justification", JUSTIFICATION_LENGTH, required=JUSTIFICATION_REQUIRED)

    def __init__(self, *args, entities, **kwargs):
        super().__init__(*args, **kwargs)
        self.entities.offer(entities, everything=True)

    def validate_justification(self, field):
        check_free_text(field.data, "justification")


class SuspendKeyForm(FlaskForm):
    """Why a key is paused: said to whatever pulls with it, and to the key's creator and admins."""

    reason = StringField(
        "Reason",
        filters=[lambda value: normal_text(value) if isinstance(value, str) else value],
        validators=[DataRequired("Say why the key is suspended: requests with it are refused with this reason."),
                    Length(max=SUSPEND_REASON_LENGTH, message=f"Use at most {SUSPEND_REASON_LENGTH} characters.")],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="suspend", **kwargs)

    def validate_reason(self, field):
        check_free_text(field.data, "reason", one_line=True)
