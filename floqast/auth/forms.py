"""The login form."""

import unicodedata

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, ValidationError
from wtforms.validators import DataRequired, Length


def no_control_characters(form, field):
    """Refuse control characters (NUL among them, which PostgreSQL refuses in text) before any query."""
    if any(unicodedata.category(char) == "Cc" for char in field.data or ""):
        raise ValidationError("Enter your email without control characters.")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254), no_control_characters])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=1024)])
