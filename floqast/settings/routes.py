"""The API Keys tab: one URL serves the full page or, to htmx, the fragment it asked for."""

from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlsplit

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from floqast.accounts.models import Team
from floqast.audit import events as audit
from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys import actions, inventory, queries, request_actions, scope, tokens
from floqast.keys.actions import KEY_STOPPED, KeyStopped, NameTaken, PolicyRefused
from floqast.keys.inventory import KeyFilters
from floqast.keys.models import DESCRIPTION_LENGTH, ApiKey, KeyStatus
from floqast.notices.outbox import KeyNotice
from floqast.settings import bp, usage
from floqast.settings.activity import DateRange, date_range
from floqast.settings.forms import AllowedIpsForm, CreateKeyForm, EditKeyForm, KeyLimitsForm
from floqast.usage import queries as request_log
from floqast.web.converters import database_id
from floqast.web.request import same_site_path

FILTERS = {"active": KeyStatus.ACTIVE, "suspended": KeyStatus.SUSPENDED, "expired": KeyStatus.EXPIRED,
           "deactivated": KeyStatus.DEACTIVATED, "all": None}
DEFAULT_FILTER = "active"
# The list's orders: newest first, or by last use (most recent first, never-used keys last).
SORTS = {"created": "Newest first", "last_used": "Last used"}
DEFAULT_SORT = "created"
# The list's Not used in 90 days filter: keys made before then and not used since.
UNUSED_DAYS = 90
SEARCH_LENGTH = 100
KEYS_PER_PAGE = 25
# Sent with htmx answers that add to the audit trail, so that the Activity list on the page reloads itself.
ACTIVITY_CHANGED = "keys-changed"


@bp.context_processor
def field_limits() -> dict:
    return {"description_length": DESCRIPTION_LENGTH, "search_length": SEARCH_LENGTH, "unused_days": UNUSED_DAYS,
            "sorts": SORTS}


def wants_fragment() -> bool:
    """An htmx request for part of the page; history restores get the whole page."""
    return request.is_htmx and "HX-History-Restore-Request" not in request.headers


def search_text(text: str) -> str:
    """What the Search keys box looks for: trimmed, without the "…" a copied hint ends with, and never more of a key
    than its hint (a whole key pasted there must not be kept in a URL)."""
    text = text.strip()[:SEARCH_LENGTH].rstrip("….").strip()
    return text[:len(tokens.PREFIX) + tokens.HINT_LENGTH] if tokens.looks_like_key(text) else text


@dataclass(frozen=True)
class KeyListing:
    """Which keys the list shows, as its URL says: the tab, the search, the order, the Not used filter, the page."""

    status: str = DEFAULT_FILTER
    search: str = ""
    sort: str = DEFAULT_SORT
    unused: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "KeyListing":
        """The listing a query asks for; a value it does not know is the default."""
        status, sort = args.get("status", DEFAULT_FILTER), args.get("sort", DEFAULT_SORT)
        return cls(status=status if status in FILTERS else DEFAULT_FILTER, search=search_text(args.get("q", "")),
                   sort=sort if sort in SORTS else DEFAULT_SORT, unused=args.get("unused") == str(UNUSED_DAYS),
                   page=max(args.get("page", 1, type=int), 1))

    @classmethod
    def at(cls, url: str) -> "KeyListing | None":
        """The listing a same-site URL shows, when it is the key list's; else None (a key's page, say)."""
        parts = urlsplit(url)
        return cls.from_args(MultiDict(parse_qsl(parts.query))) if parts.path == url_for("settings.api_keys") else None

    def args(self, **changes) -> dict:
        """The url_for arguments of this listing (with `changes`): the tab always, the rest when not the default."""
        listing = replace(self, **changes)
        return {"status": listing.status, "q": listing.search or None,
                "sort": None if listing.sort == DEFAULT_SORT else listing.sort,
                "unused": UNUSED_DAYS if listing.unused else None, "page": listing.page if listing.page > 1 else None}

    @property
    def url(self) -> str:
        return url_for("settings.api_keys", **self.args())

    @property
    def narrowed(self) -> bool:
        """Whether a search or the Not used filter leaves keys out."""
        return bool(self.search) or self.unused

    def conditions(self) -> list:
        conditions = [queries.matching(self.search)] if self.search else []
        if self.unused:
            conditions.append(queries.unused_for(UNUSED_DAYS))
        return conditions

    def order(self) -> list:
        return [ApiKey.last_used_at.desc().nulls_last()] if self.sort == "last_used" else []


def current_listing() -> KeyListing:
    return KeyListing.from_args(request.args)


def key_list(team: Team, listing: KeyListing) -> dict:
    """What the search, the tabs and the table show: one page of the keys under the listing, and every tab's count
    under its search and filter.

    A fixed number of queries whatever the number of keys: the counts, then one page of keys with their
    creators (a page past the last one shows the last one).
    """
    today = team.today()
    conditions = listing.conditions()
    counts = {status.value: count for status, count in queries.count_by_status(team, today, conditions).items()}
    counts["all"] = sum(counts.values())
    pages = max(1, -(-counts[listing.status] // KEYS_PER_PAGE))
    listing = replace(listing, page=min(listing.page, pages))
    keys_shown = queries.page(team, FILTERS[listing.status], listing.page, KEYS_PER_PAGE, today, conditions,
                             listing.order())
    return {
        "keys": keys_shown,
        "entity_total": scope.entity_total_for(keys_shown),
        "counts": counts,
        "listing": listing,
        "key_pages": pages,
        "today": today,
        "team": team,
    }


def new_key_form(**kwargs) -> CreateKeyForm:
    team = current_user.team
    today = team.today()
    # The names of the working keys are for checking a submitted form; an empty dialog needs none of them.
    taken_names = () if "formdata" in kwargs and kwargs["formdata"] is None else queries.working_names(team, today)
    return CreateKeyForm(today=today, policy=team.key_policy, taken_names=taken_names,
                         entities=scope.team_entities(team.id), **kwargs)


def render_page(listing: KeyListing, form: CreateKeyForm, status: int = 200, **extra):
    context = key_list(current_user.team, listing)
    return render_template("settings/api_keys.html", form=form, **context, **extra), status


def team_key_or_404(key_id: int) -> ApiKey:
    """One of the current team's keys; another team's key is as missing as a key that never was."""
    return db.first_or_404(select(ApiKey).where(ApiKey.id == key_id, ApiKey.team_id == current_user.team_id))


@bp.get("/api-keys")
def api_keys():
    """The API Keys tab, or only its tabs and table when htmx switches the filter."""
    listing = current_listing()
    if wants_fragment():
        return render_template("settings/_key_table.html", **key_list(current_user.team, listing))
    return render_page(listing, new_key_form(formdata=None))


@bp.get("/api-keys.csv")
def key_list_csv():
    """Every key of the team as CSV, the columns of GET /api/v1/keys, for an access review."""
    team = current_user.team
    filename = f"api-keys-{team.today().isoformat()}.csv"
    return Response(inventory.csv_text(team, KeyFilters()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/api-keys/new")
def new_key():
    """The tab with the Create New Key dialog open, for browsers without JavaScript."""
    return render_page(current_listing(), new_key_form(formdata=None), dialog_open=True)


@bp.post("/api-keys")
def create_key():
    """Create a key and show its plaintext this once."""
    form = new_key_form()
    if form.validate():
        try:
            key, plaintext = actions.create_key(current_user, form.name.data, form.services.data,
                                                form.expires_on(), form.description.data, form.allowed_ips.data,
                                                entity_ids=form.chosen_entity_ids(),
                                                self_roll_allowed=form.self_roll.data)
        except NameTaken as taken:  # by a create committed after the form read the names
            form.name.errors.append(str(taken))
        except PolicyRefused as refused:  # a stricter policy saved after the form read the team's
            db.session.rollback()
            form.use_policy(current_user.team.key_policy)
            expiry_field = form.custom_date if form.expiration.data == "custom" else form.expiration
            expiry_field.errors.append(str(refused))
    if form.errors:
        if wants_fragment():
            return render_template("settings/_create_form.html", form=form), 422
        return render_page(current_listing(), form, 422, dialog_open=True)
    db.session.commit()
    return reveal(key, plaintext)


def came_from() -> str:
    """Where a dialog's Cancel and its answer go back to: the same-site path in ?next= (the key list as the admin
    left it, or a key's page), else the list."""
    return same_site_path(request.args.get("next")) or url_for("settings.api_keys")


def reveal(key: ApiKey, plaintext: str, replaced: ApiKey | None = None):
    """The answer that shows a new key this once. After a roll or a regenerate asked from the replaced key's page:
    that page with the reveal panel (to htmx: the panel, the page's top refreshed and the dialog closed). Else the
    list's active keys with the panel (to htmx: the panel, the refreshed list, a fresh, closed Create New Key
    dialog, and the confirmation dialog closed)."""
    revealed = {"new_key": key, "plaintext": plaintext}
    if replaced is not None and urlsplit(came_from()).path == url_for("settings.key_page", key_id=replaced.id):
        form = edit_key_form(replaced, formdata=None)
        if not wants_fragment():
            return render_key_page(replaced, form, 201, **revealed)
        body = render_template("settings/_key_page_revealed.html", **revealed, **key_page_top(replaced, form))
        return body, 201, {"HX-Retarget": "#reveal-slot", "HX-Reswap": "innerHTML", "HX-Trigger": ACTIVITY_CHANGED}
    if not wants_fragment():
        return render_page(KeyListing(), new_key_form(formdata=None), 201, **revealed)
    body = render_template(
        "settings/_key_created.html",
        **revealed,
        form=new_key_form(formdata=None),
        **key_list(current_user.team, KeyListing()),
    )
    return body, 201, {
        "HX-Retarget": "#reveal-slot",
        "HX-Reswap": "innerHTML",
        "HX-Replace-Url": KeyListing().url,
        "HX-Trigger": ACTIVITY_CHANGED,
    }


def audit_events_page(team_id: int, key_id: int | None = None, kind: AuditKind | None = None,
                      dates: DateRange | None = None) -> dict:
    """One page of the team's audit trail (or of one key's), from the ?before= event, of `kind` and within `dates`
    when given: what _activity.html shows (nothing for dates in error)."""
    before = request.args.get("before", type=database_id)  # not an event's id: the newest page
    if dates is not None and dates.errors:
        events = []
    else:
        events = AuditEvent.for_team(team_id, before, audit.PAGE_SIZE + 1, key_id=key_id, kind=kind,
                                     since=dates and dates.since, until=dates and dates.until)
    return {
        "events": events[:audit.PAGE_SIZE],
        "older": events[audit.PAGE_SIZE - 1].id if len(events) > audit.PAGE_SIZE else None,
        "paged": before is not None,
        "team": current_user.team,
    }


def edit_key_form(key: ApiKey, **kwargs) -> EditKeyForm:
    """The key's name and description form; a submitted one is checked against the other working keys' names."""
    submitted = kwargs.get("formdata", True) is not None
    taken_names = queries.working_names(key.team, key.team.today(), except_id=key.id) if submitted else ()
    return EditKeyForm(obj=key, taken_names=taken_names, self_roll=key.self_roll_allowed, **kwargs)


def key_activity(key: ApiKey) -> dict:
    """A page of the key's own audit events, paged on its own page."""
    return {**audit_events_page(key.team_id, key.id), "activity_title": "Activity",
            "activity_args": {"endpoint": "settings.key_page", "key_id": key.id}}


def key_limits_form(key: ApiKey, **kwargs) -> KeyLimitsForm:
    """The key's entities and rate limit form, offering its team's entities."""
    return KeyLimitsForm(obj=key, entities=scope.team_entities(key.team_id), **kwargs)


def key_page_sections(key: ApiKey, allowed_ips_form: AllowedIpsForm | None = None,
                      limits_form: KeyLimitsForm | None = None) -> dict:
    """What the key's page shows below its details and form: its allowed addresses, its entities and rate limit
    (each form as submitted, when given), where it was used from, its usage, its latest requests, its notices and its
    own audit events."""
    return {
        "allowed_ips_form": allowed_ips_form or AllowedIpsForm(formdata=None, obj=key),
        "limits_form": limits_form or key_limits_form(key, formdata=None),
        "addresses": usage.key_addresses(key),
        **usage.key_usage(key),
        **api_requests_context(key),
        "notices": KeyNotice.for_key(key),
        **key_activity(key),
    }


def key_page_top(key: ApiKey, form: EditKeyForm, message: str | None = None) -> dict:
    """What the top of the key's page (_key_page.html) shows: the key, its last use, the request it was made from if
    any, its name and description form."""
    return {"key": key, "form": form, "message": message, "today": key.team.today(), "key_stopped": KEY_STOPPED,
            "last_use": usage.last_use(key), "key_page_url": url_for("settings.key_page", key_id=key.id),
            "key_request": request_actions.for_key(key)}


def render_key_page(key: ApiKey, form: EditKeyForm, status: int = 200, message: str | None = None,
                    allowed_ips_form: AllowedIpsForm | None = None, limits_form: KeyLimitsForm | None = None,
                    **extra):
    """The key's page, or to htmx the part of it that an edit changes (#key-page); a key that no longer works
    says so in place of its form."""
    context = key_page_top(key, form, message)
    if wants_fragment():
        return render_template("settings/_key_page.html", **context), status
    sections = key_page_sections(key, allowed_ips_form, limits_form)
    return render_template("settings/key.html", **context, **sections, **extra), status


@bp.get("/api-keys/<id:key_id>")
def key_page(key_id: int):
    """Everything about one key: its fields, its last use, its name and description, its allowed addresses, its
    usage and latest requests, its notices, its own audit events; to htmx (the events' Older and Newest links,
    and their refresh after a change), only its events."""
    key = team_key_or_404(key_id)
    if wants_fragment():
        return render_template("settings/_activity.html", **key_activity(key))
    return render_key_page(key, edit_key_form(key, formdata=None))


@bp.get("/api-keys/<id:key_id>/requests")
def key_requests(key_id: int):
    """The key's latest requests by status, a page at a time: the fragment to htmx, else the key's page."""
    key = team_key_or_404(key_id)
    if wants_fragment():
        context = api_requests_context(key)
        return render_template("settings/_api_requests.html", **context), filter_status(context["request_dates"])
    status = filter_status(date_range(request.args, key.team, REQUEST_DATES))
    return render_key_page(key, edit_key_form(key, formdata=None), status)


@bp.post("/api-keys/<id:key_id>")
def edit_key(key_id: int):
    """Rename or describe a working key: back to its page (a redirect without JavaScript), errors in place."""
    key = team_key_or_404(key_id)
    form = edit_key_form(key)
    try:
        actions.check_editable(key)
        if form.validate():
            changes = actions.edit_key(key, form.name.data, form.description.data, by=current_user)
            if actions.change_self_roll(key, form.self_roll.data, current_user):
                changes.append(AuditKind.SELF_ROLL_CHANGED)
    except NameTaken as taken:  # by a create or rename committed after the form read the names
        form.name.errors.append(str(taken))
    except KeyStopped:  # expired, or deactivated before or while this was sent
        db.session.rollback()
        return render_key_page(key, edit_key_form(key, formdata=None), 409)
    if form.errors:
        db.session.rollback()
        return render_key_page(key, form, 422)
    db.session.commit()
    message = "Saved." if changes else "Nothing changed."
    if not wants_fragment():
        flash(message)
        return redirect(url_for("settings.key_page", key_id=key.id), 303)
    body, status = render_key_page(key, edit_key_form(key, formdata=None), message=message)
    return body, status, {"HX-Trigger": ACTIVITY_CHANGED} if changes else {}


def allowed_ips_answer(key: ApiKey, form: AllowedIpsForm, status: int = 200, message: str | None = None):
    """The key's allowed addresses: the fragment to htmx (from the page's form, or from the Allow only these
    addresses dialog, which it closes), else the key's page that holds it."""
    if wants_fragment():
        body = render_template("settings/_allowed_ips_form.html", key=key, form=form, message=message)
        return body + render_template("settings/_dialog_closed.html"), status, {
            "HX-Retarget": "#allowed-ips", "HX-Reswap": "outerHTML"}
    return render_key_page(key, edit_key_form(key, formdata=None), status, allowed_ips_form=form)


def allowed_ips_message(key: ApiKey, changed: bool) -> str:
    if not changed:
        return "No change: these were already the key's allowed addresses."
    if key.allowed_ips is None:
        return "Saved: the key works from any address."
    return "Saved: pulls with the key from any other address are refused from now on."


@bp.post("/api-keys/<id:key_id>/allowed-ips")
def save_allowed_ips(key_id: int):
    """Change the allowed IP addresses of a key that still works (or will once resumed); audited with before and
    after."""
    key = team_key_or_404(key_id)
    form = AllowedIpsForm()
    if not key.editable(key.team.today()):
        return allowed_ips_answer(key, form, 409)
    if not form.validate():
        return allowed_ips_answer(key, form, 422)
    message = allowed_ips_message(key, actions.change_allowed_ips(key, form.allowed_ips.data, by=current_user))
    db.session.commit()
    if not wants_fragment():
        flash(message)
        return redirect(url_for("settings.key_page", key_id=key.id), 303)
    body, status, headers = allowed_ips_answer(key, AllowedIpsForm(formdata=None, obj=key), message=message)
    return body, status, {**headers, "HX-Trigger": ACTIVITY_CHANGED}


def limits_answer(key: ApiKey, form: KeyLimitsForm, status: int = 200, message: str | None = None):
    """The key's entities and rate limit: the fragment to htmx, else the key's page that holds it."""
    if wants_fragment():
        return render_template("settings/_key_limits_form.html", key=key, form=form, message=message), status
    return render_key_page(key, edit_key_form(key, formdata=None), status, limits_form=form)


@bp.post("/api-keys/<id:key_id>/limits")
def save_limits(key_id: int):
    """Change the entities a working key reads and its own rate limit; each change audited with before and after."""
    key = team_key_or_404(key_id)
    form = key_limits_form(key)
    if key.status(key.team.today()) is not KeyStatus.ACTIVE:
        return limits_answer(key, form, 409)
    if not form.validate():
        return limits_answer(key, form, 422)
    changed = [actions.change_entities(key, form.chosen_entity_ids(), by=current_user),
               actions.change_rate_limit(key, form.rate_limit_per_minute.data, by=current_user)]
    db.session.commit()
    message = "Saved: pulls with the key follow these from now on." if any(changed) else "Nothing changed."
    if not wants_fragment():
        flash(message)
        return redirect(url_for("settings.key_page", key_id=key.id), 303)
    body, status = limits_answer(key, key_limits_form(key, formdata=None), message=message)
    return body, status, {"HX-Trigger": ACTIVITY_CHANGED} if any(changed) else {}


# The audit list's filters in the Activity page's URL (the request list's have names of their own).
EVENT_DATES = ("from", "to")
EVENT_KINDS = sorted(AuditKind, key=lambda kind: kind.label)


def activity_context() -> dict:
    """The team's audit trail, newest first, a page at a time (older than ?before=), of the ?event= kind and within
    the ?from= and ?to= days when asked."""
    dates = date_range(request.args, current_user.team, EVENT_DATES)
    event = request.args.get("event", "")
    kind = next((kind for kind in AuditKind if kind == event), None)  # any other ?event=: every kind
    return {
        **audit_events_page(current_user.team_id, kind=kind, dates=dates),
        "activity_title": "Audit events",
        "activity_args": {"endpoint": "settings.activity", "event": kind and kind.value, **dates.args()},
        "event_dates": dates,
        "event_kind": kind,
        "event_kinds": EVENT_KINDS,
    }


def log_id(text: str) -> int:
    """A request log id from a query argument (ValueError when it cannot be one, so that it reads as missing)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise ValueError(f"{text!r} is not a request id")
    return int(text)


# The request list's From and To in the URL.
REQUEST_DATES = ("requests_from", "requests_to")


def api_requests_context(key: ApiKey | None = None) -> dict:
    """The team's API request log (or, on its page, one key's), newest first, a page at a time (older than
    ?older_than=), under the ?status= filter, within the ?requests_from= and ?requests_to= days and on the team's
    list under the ?key= filter; and the filters' choices. A key id not of the team shows every key."""
    team = current_user.team
    status = request.args.get("status", "all")
    status = status if status in request_log.STATUS_FILTERS else "all"
    dates = date_range(request.args, team, REQUEST_DATES)
    filters = {"status": None if status == "all" else status, **dates.args()}
    if key is None:
        team_keys = db.session.execute(select(ApiKey.id, ApiKey.name, ApiKey.hint).where(ApiKey.team_id == team.id)
                                       .order_by(ApiKey.name, ApiKey.id)).all()
        key_id = request.args.get("key", type=database_id)
        key_id = key_id if key_id in {team_key.id for team_key in team_keys} else None
        filters["key"] = key_id
        list_args = {"endpoint": "settings.api_requests"}
    else:
        team_keys, key_id = (), key.id
        list_args = {"endpoint": "settings.key_requests", "key_id": key.id}
    older_than = request.args.get("older_than", type=log_id)
    rows = [] if dates.errors else request_log.team_requests(team.id, key_id, status, older_than,
                                                             request_log.PAGE_SIZE + 1, dates.since, dates.until)
    return {
        "requests": rows[:request_log.PAGE_SIZE],
        "older_requests": rows[request_log.PAGE_SIZE - 1].ApiRequest.id if len(rows) > request_log.PAGE_SIZE else None,
        "requests_paged": older_than is not None,
        "request_filters": filters,
        "request_dates": dates,
        "requests_key": key,
        "requests_args": list_args,
        "team_keys": team_keys,
        "status_filters": request_log.STATUS_FILTERS,
        "team": team,
    }


def filter_status(*date_ranges: DateRange) -> int:
    """400 when a list's From or To is not a day (or To comes before From), else 200."""
    return 400 if any(dates.errors for dates in date_ranges) else 200


def activity_page():
    """The Activity page: the audit trail and the API request log, each at the page its own arguments ask for."""
    context = activity_context() | api_requests_context()
    status = filter_status(context["event_dates"], context["request_dates"])
    return render_template("settings/activity.html", **context), status


@bp.get("/api-keys/activity")
def activity():
    """The team's audit trail by kind and date, newest first, a page at a time: the fragment to htmx, else the
    Activity page."""
    if wants_fragment():
        context = activity_context()
        return render_template("settings/_activity.html", **context), filter_status(context["event_dates"])
    return activity_page()


@bp.get("/api-keys/activity/requests")
def api_requests():
    """The team's API request log by key, status and date, a page at a time: the fragment to htmx, else the
    Activity page."""
    if wants_fragment():
        context = api_requests_context()
        return render_template("settings/_api_requests.html", **context), filter_status(context["request_dates"])
    return activity_page()
