"""Login and logout views."""

from functools import lru_cache

import bcrypt
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import update

from floqast.accounts.models import User, bcrypt_secret
from floqast.audit import events
from floqast.auth import bp, login_manager
from floqast.auth.access import mark_access_confirmed
from floqast.auth.forms import LoginForm
from floqast.extensions import db
from floqast.ratelimit.limits import LOGIN_LIMIT_MESSAGE, count_login_failure, login_allowed
from floqast.web.request import same_site_path


@lru_cache(maxsize=4)
def unknown_user_hash(rounds: int) -> bytes:
    """Checked when the email is unknown, so that a wrong email takes as long as a wrong password."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


SESSION_VERSION = "_session_version"


@bp.before_app_request
def end_sessions_from_before_logout():
    """A session cookie from before its user last logged out signs no one in (cookies are client-side)."""
    if request.is_api:  # no session there to end (BrowserSessionInterface)
        return
    if current_user.is_authenticated and session.get(SESSION_VERSION, 0) != current_user.session_version:
        logout_user()
        session.clear()


login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login page."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 422 if form.is_submitted() else 200
    if not login_allowed(form.email.data):
        form.form_errors.append(LOGIN_LIMIT_MESSAGE)
        return render_template("auth/login.html", form=form), 429
    user = User.by_email(form.email.data)
    if user is None:
        bcrypt.checkpw(bcrypt_secret(form.password.data), unknown_user_hash(current_app.config["BCRYPT_ROUNDS"]))
    if user is None or not user.check_password(form.password.data):
        count_login_failure(form.email.data)
        events.record_login(form.email.data, user, succeeded=False)
        db.session.commit()
        form.form_errors.append("Incorrect email or password.")
        return render_template("auth/login.html", form=form), 422
    events.record_login(form.email.data, user, succeeded=True)
    db.session.commit()
    session.clear()  # a new session (and CSRF token) at login: nothing carried over from before it
    login_user(user)
    session[SESSION_VERSION] = user.session_version
    mark_access_confirmed()
    return redirect(same_site_path(request.args.get("next")) or url_for("home.index"))


@bp.post("/logout")
def logout():
    """End the session, and every copy of its cookie: they carry a session version that no longer matches."""
    if current_user.is_authenticated:
        db.session.execute(
            update(User).where(User.id == current_user.id).values(session_version=User.session_version + 1)
        )
        events.record_logout(current_user)
        db.session.commit()
    logout_user()
    session.clear()
    flash("You have been logged out.")
    return redirect(url_for("auth.login"))
