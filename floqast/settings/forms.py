"""The Create New Key form, the allowed addresses form, and their rules."""

import re
import unicodedata
from datetime import date, timedelta

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, DateInput, ListWidget

from floqast import ip_allowlist
from floqast.key_actions import NAME_TAKEN
from floqast.models import Service, name_key, normal_name

EXPIRATION_CHOICES = [
    SelectChoice("365", "365 days"),
    SelectChoice("90", "90 days"),
    SelectChoice("60", "60 days"),
    SelectChoice("30", "30 days"),
    SelectChoice("custom", "Custom date"),
    SelectChoice("never", "No expiration"),
]
CUSTOM_DATE_MAX_YEARS = 5
# Control characters (PostgreSQL refuses NUL in text: a 500 before this) and format characters (zero-width
# spaces, right-to-left overrides), which make a name look empty or like another.
REFUSED_IN_NAMES = {"Cc", "Cf"}
# Only this form of ISO 8601: date.fromisoformat also reads 20270105 and 2027W011.
CUSTOM_DATE_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _normal_name(value):
    return normal_name(value) if isinstance(value, str) else value


def years_later(day: date, years: int) -> date:
    """The same calendar day `years` on; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AllowedIpsField(TextAreaField):
    """Allowed IP addresses as an admin types them; its data is their stored form (None: any address)."""

    def __init__(self, label="Allowed IP addresses", **kwargs):
        super().__init__(label, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = ip_allowlist.parse(valuelist[0])  # a ValueError is the field's error

    def _value(self) -> str:
        if self.process_errors:
            return self.raw_data[0]  # as typed, to be corrected
        return "\n".join(ip_allowlist.shown(self.data))


class AllowedIpsForm(FlaskForm):
    allowed_ips = AllowedIpsField()


class CreateKeyForm(FlaskForm):
    name = StringField(
        "New API Key Name",
        filters=[_normal_name],
        validators=[DataRequired("Enter a name for the key."), Length(max=100, message="Use at most 100 characters.")],
    )
    expiration = SelectField("Expiration", choices=EXPIRATION_CHOICES, default="90")
    custom_date = StringField("Expiration date", widget=DateInput())
    services = CheckboxesField(
        "Select API Services",
        choices=[SelectChoice(service.value, service.label) for service in Service],
        validators=[DataRequired("Select at least one API service.")],
    )
    allowed_ips = AllowedIpsField()

    def __init__(self, *args, today: date, taken_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.taken_names = {name_key(name) for name in taken_names}

    @property
    def earliest_custom_date(self) -> date:
        return self.today + timedelta(days=1)

    @property
    def latest_custom_date(self) -> date:
        return years_later(self.today, CUSTOM_DATE_MAX_YEARS)

    def validate_name(self, field):
        if any(unicodedata.category(char) in REFUSED_IN_NAMES for char in field.data):
            raise ValidationError(
                "Use letters, digits, spaces and punctuation; no control characters or invisible formatting characters."
            )
        if name_key(field.data) in self.taken_names:
            raise ValidationError(NAME_TAKEN)

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
        if chosen > self.latest_custom_date:
            raise ValidationError(f"Choose a date no later than {self.latest_custom_date:%B %-d, %Y}.")

    def expires_on(self) -> date | None:
        """The last day the key works, in the team's time zone; None for no expiration."""
        if self.expiration.data == "never":
            return None
        if self.expiration.data == "custom":
            return date.fromisoformat(self.custom_date.data)
        return self.today + timedelta(days=int(self.expiration.data))
