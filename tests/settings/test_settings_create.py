"""Creating a key: each expiration choice, each validation error, the one-time reveal, escaping."""

import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from floqast.extensions import db
from floqast.keys.models import ApiKey, Service
from floqast.settings.forms import years_later
from helpers import (
    HTMX,
    INVALID_NAMES,
    KEY_PATTERN,
    assert_error_next_to,
    csrf_token,
    parse_html,
    revealed_key,
    text_of,
)

# Far from UTC on both sides, so that "today" in the team's zone differs from UTC's at any hour.
ZONES = ["Pacific/Kiritimati", "Pacific/Pago_Pago"]


@pytest.fixture(params=ZONES)
def zoned_team(request, team):
    team.timezone = request.param
    db.session.commit()
    return team


def create(client, htmx=True, **fields):
    """Submit the Create New Key form, as htmx (token in the form, as the page's form holds it) or plainly."""
    data = {"name": "Power BI", "expiration": "90", "services": ["reconciliations", "checklists"], **fields}
    data["csrf_token"] = csrf_token(client, "/settings/api-keys")
    return client.post("/settings/api-keys", data=data, headers=HTMX if htmx else {})


def key_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ApiKey))


def only_key() -> ApiKey:
    return db.session.scalars(select(ApiKey)).one()


# ---- expiration choices ----


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
@pytest.mark.parametrize("days", [365, 90, 60, 30])
def test_expiration_in_days_counts_from_today_in_the_team_zone(admin_client, zoned_team, htmx, days):
    response = create(admin_client, htmx, expiration=str(days))

    assert response.status_code == 201
    assert only_key().expires_on == zoned_team.today() + timedelta(days=days)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
@pytest.mark.parametrize("offset", ["tomorrow", "in 5 years"])
def test_custom_date_from_tomorrow_to_five_years_ahead(admin_client, zoned_team, htmx, offset):
    today = zoned_team.today()
    chosen = today + timedelta(days=1) if offset == "tomorrow" else years_later(today, 5)

    response = create(admin_client, htmx, expiration="custom", custom_date=chosen.isoformat())

    assert response.status_code == 201
    assert only_key().expires_on == chosen


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_no_expiration(admin_client, htmx):
    response = create(admin_client, htmx, expiration="never")

    assert response.status_code == 201
    assert only_key().expires_on is None
    row = parse_html(response).find(id=f"key-{only_key().id}")
    assert "Never" in [text_of(cell) for cell in row.find_all("td")]


def test_custom_date_is_ignored_unless_custom_is_chosen(admin_client, team):
    response = create(admin_client, expiration="30", custom_date="not a date")

    assert response.status_code == 201
    assert only_key().expires_on == team.today() + timedelta(days=30)


def test_the_form_warns_against_no_expiration_and_defaults_to_90_days(admin_client):
    page = parse_html(admin_client.get("/settings/api-keys"))

    select_ = page.find("select", id="expiration")
    assert [text_of(option) for option in select_.find_all("option")] == [
        "365 days", "90 days", "60 days", "30 days", "Custom date", "No expiration",
    ]
    assert select_.find("option", selected=True).get("value") == "90"
    assert "An expiration date is strongly recommended for security." in text_of(page.find(id="create-key-dialog"))


def test_the_dialog_and_the_api_document_say_a_key_works_through_its_expiration_date(admin_client, team):
    team.timezone = "America/Los_Angeles"
    db.session.commit()

    form = parse_html(admin_client.get("/settings/api-keys")).find("form", id="create-key-form")
    document = admin_client.get("/api/v1/openapi.json").get_json()

    assert form.find("select", id="expiration").get("aria-describedby") == "expiration-help"
    assert ("A key works through the end of its expiration date in your team's time zone (America/Los_Angeles)"
            in text_of(form.find(id="expiration-help")))
    me = document["paths"]["/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    expires_at = me["properties"]["data"]["properties"]["expiresAt"]
    assert "works through the end of its expiration date in its team's time zone" in expires_at["description"]


def shown(day) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def test_the_dialog_says_the_day_each_expiration_works_through_in_the_team_zone(admin_client, zoned_team):
    today = zoned_team.today()

    form = parse_html(admin_client.get("/settings/api-keys")).find("form", id="create-key-form")

    # Each preset carries the last day it gives a key, as the server computes it, for app.js to show as it is picked.
    works_through = {option.get("value"): option.get("data-works-through")
                     for option in form.find("select", id="expiration").find_all("option")}
    assert works_through == {"365": shown(today + timedelta(days=365)), "90": shown(today + timedelta(days=90)),
                             "60": shown(today + timedelta(days=60)), "30": shown(today + timedelta(days=30)),
                             "custom": None, "never": None}
    line = form.find("p", class_="works-through")
    assert text_of(line) == f"Works through {shown(today + timedelta(days=90))} ({zoned_team.timezone})"
    assert line.get("aria-live") == "polite"
    # The line is for the choice marked as previewed: a page without JavaScript hides it once another is picked.
    assert [option.get("value") for option in form.find_all("option", attrs={"data-previewed": True})] == ["90"]


@pytest.mark.parametrize(("fields", "says"), [
    ({"expiration": "custom", "custom_date": "+10"}, "Works through {day}"),
    ({"expiration": "30"}, "Works through {day}"),
    ({"expiration": "never"}, ""),
    ({"expiration": "custom", "custom_date": "soon"}, ""),
], ids=["custom date", "30 days", "no expiration", "not a date"])
def test_without_javascript_the_server_says_it_for_the_choice_sent(admin_client, zoned_team, fields, says):
    today = zoned_team.today()
    days = 30 if fields["expiration"] == "30" else 10
    if fields.get("custom_date") == "+10":
        fields = {**fields, "custom_date": (today + timedelta(days=10)).isoformat()}

    response = create(admin_client, htmx=False, name="", **fields)  # refused for its name: the dialog again

    assert response.status_code == 422
    line = parse_html(response).find("form", id="create-key-form").find("p", class_="works-through")
    expected = says.format(day=shown(today + timedelta(days=days)))
    assert text_of(line) == (f"{expected} ({zoned_team.timezone})" if expected else "")


# ---- the reveal ----


def test_htmx_create_reveals_the_key_once_with_the_new_row_and_a_fresh_closed_dialog(admin_client, admin):
    response = create(admin_client, name="  Snowflake load  ", services=["checklists"])

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["HX-Retarget"] == "#reveal-slot"
    body = response.get_data(as_text=True)
    assert "<html" not in body
    revealed_key(body)
    page = parse_html(body)
    reveal = page.find("section", class_="reveal")
    assert "This is the only time this key will be displayed." in text_of(reveal)
    assert text_of(reveal.find("button", attrs={"data-copy": "#new-key-value"})) == "Copy"
    assert text_of(reveal.find("button", attrs={"data-copy": "#test-key-command"})) == "Copy command"
    assert "Snowflake load" in text_of(reveal)

    key = only_key()
    assert key.name == "Snowflake load"
    assert key.services == [Service.CHECKLISTS.value]
    assert key.created_by_id == admin.id
    row = page.find(id="key-list").find("tr", id=f"key-{key.id}")
    assert text_of(row.find("th")) == "Snowflake load"
    assert "Checklist Analytics" in text_of(row) and "Reconciliation Analytics" not in text_of(row)
    assert text_of(page.find("a", id="tab-active").find("span", class_="count")) == "1"

    dialog = page.find("dialog", id="create-key-dialog")
    assert "open" not in dialog.attrs
    assert dialog.find("input", id="name").get("value") in (None, "")
    assert dialog.find_all("p", class_="field-error") == []


def test_a_service_sent_twice_is_stored_and_shown_once(admin_client):
    response = create(admin_client, services=["reconciliations", "reconciliations"])

    assert response.status_code == 201
    key = only_key()
    assert key.services == [Service.RECONCILIATIONS.value]
    row = parse_html(response).find(id=f"key-{key.id}")
    assert text_of(row).count("Reconciliation Analytics") == 1


def test_form_create_answers_the_full_page_with_the_reveal_and_the_dialog_closed(admin_client):
    response = create(admin_client, htmx=False, name="Tableau")

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Retarget" not in response.headers
    body = response.get_data(as_text=True)
    assert "<html" in body
    plaintext = revealed_key(body)
    page = parse_html(body)
    assert plaintext in text_of(page.find(id="reveal-slot"))
    assert page.find(id="key-list").find("tr", id=f"key-{only_key().id}") is not None
    assert "open" not in page.find("dialog", id="create-key-dialog").attrs


def test_htmx_create_returns_to_the_active_tab(admin_client):
    response = create(admin_client)

    assert response.headers["HX-Replace-Url"] == "/settings/api-keys?status=active"
    assert parse_html(response).find("a", attrs={"aria-selected": "true"}).get("id") == "tab-active"


def test_the_new_key_is_stored_as_digest_and_hint_only(app, admin_client):
    from floqast.keys import tokens

    plaintext = KEY_PATTERN.search(create(admin_client).get_data(as_text=True)).group()

    key = only_key()
    assert tokens.is_well_formed(plaintext)
    assert key.digest == tokens.digest(plaintext, app.config["API_KEY_PEPPER"].encode())
    assert key.hint == plaintext[:7]


# ---- validation ----


def future(days=0, years=0):
    """A custom date relative to the team's today, worked out when the test runs."""
    return lambda today: (years_later(today, years) + timedelta(days=days)).isoformat()


def ten_days_on(written):
    """A custom date ten days after the team's today, written by `written`."""
    return lambda today: written(today + timedelta(days=10))


# Other ISO 8601 forms of a date, which Python 3.11's date.fromisoformat reads too.
BASIC_FORMAT = ten_days_on(lambda day: day.strftime("%Y%m%d"))
WEEK_DATE = ten_days_on(lambda day: "{}W{:02d}{}".format(*day.isocalendar()))
EXTENDED_WEEK_DATE = ten_days_on(lambda day: "{}-W{:02d}-{}".format(*day.isocalendar()))

INVALID = [
    # id, fields sent, field with the error, message
    *((case, {"name": name}, "name", message) for case, name, message in INVALID_NAMES),
    ("no service", {"services": []}, "services", "Select at least one API service."),
    ("bad service", {"services": ["payroll"]}, "services", "is not a valid choice"),
    ("custom missing", {"expiration": "custom", "custom_date": ""}, "custom_date", "Choose the date the key expires."),
    ("custom malformed", {"expiration": "custom", "custom_date": "31/12/2030"}, "custom_date",
     "Enter the date as YYYY-MM-DD."),
    ("custom basic format", {"expiration": "custom", "custom_date": BASIC_FORMAT}, "custom_date",
     "Enter the date as YYYY-MM-DD."),
    ("custom week date", {"expiration": "custom", "custom_date": WEEK_DATE}, "custom_date",
     "Enter the date as YYYY-MM-DD."),
    ("custom extended week date", {"expiration": "custom", "custom_date": EXTENDED_WEEK_DATE}, "custom_date",
     "Enter the date as YYYY-MM-DD."),
    ("custom today", {"expiration": "custom", "custom_date": future()}, "custom_date", "Choose a date after today."),
    ("custom past", {"expiration": "custom", "custom_date": future(days=-1)}, "custom_date",
     "Choose a date after today."),
    ("custom > 5 years", {"expiration": "custom", "custom_date": future(years=5, days=1)}, "custom_date",
     "Choose a date no later than"),
    ("unknown expiration", {"expiration": "7"}, "expiration", "Not a valid choice."),
]


@pytest.fixture
def existing_key(admin, make_key):
    return make_key(admin, name="Power BI")[0]


def invalid_create(client, team, htmx, fields):
    """Send the create form with `fields` over valid ones (a callable value is given the team's today); what was
    sent, and the answer."""
    fields = {name: value(team.today()) if callable(value) else value for name, value in fields.items()}
    sent = {"name": "Looker", "expiration": "90", "services": ["checklists"], **fields}
    return sent, create(client, htmx, **sent)


@pytest.mark.parametrize(("fields", "field", "message"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_create_shows_the_error_next_to_its_field(admin_client, zoned_team, existing_key, fields, field,
                                                          message):
    _, response = invalid_create(admin_client, zoned_team, True, fields)

    assert response.status_code == 422
    assert key_count() == 1
    assert_error_next_to(parse_html(response), field, message)


@pytest.mark.parametrize("fields", [
    {"name": "  ＬＯＯＫＥＲ  ", "services": []},
    {"name": "Looker", "services": ["reconciliations", "payroll"]},
    {"expiration": "custom", "custom_date": future(days=-1), "services": ["reconciliations", "checklists"]},
    {"expiration": "7"},
], ids=["normalised name", "bad service", "custom date", "unknown expiration"])
def test_invalid_create_keeps_what_was_typed(admin_client, zoned_team, existing_key, fields):
    sent, response = invalid_create(admin_client, zoned_team, True, fields)

    assert response.status_code == 422
    form = parse_html(response).find("form", id="create-key-form")
    assert form.find("input", id="name").get("value") == unicodedata.normalize("NFKC", sent["name"]).strip()
    if sent["expiration"] in ("90", "custom"):
        assert form.find("select", id="expiration").find("option", selected=True).get("value") == sent["expiration"]
    if sent.get("custom_date"):
        assert form.find("input", id="custom_date").get("value") == sent["custom_date"]
    checked = [box.get("value") for box in form.find_all("input", type="checkbox", checked=True)]
    assert checked == [s for s in sent["services"] if s in ("reconciliations", "checklists")]


def test_invalid_create_with_htmx_answers_the_form_alone(admin_client, zoned_team, existing_key):
    _, response = invalid_create(admin_client, zoned_team, True, {"name": ""})

    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body and body.lstrip().startswith("<form")
    assert parse_html(body).find(id="key-list") is None
    assert KEY_PATTERN.search(body) is None


def test_invalid_create_without_javascript_answers_the_page_with_the_dialog_open(admin_client, zoned_team,
                                                                                  existing_key):
    _, response = invalid_create(admin_client, zoned_team, False, {"name": ""})

    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" in body
    page = parse_html(body)
    assert "open" in page.find("dialog", id="create-key-dialog").attrs
    assert_error_next_to(page, "name", "Enter a name for the key.")
    assert page.find(id="key-list").find("tr", id=f"key-{existing_key.id}") is not None
    assert KEY_PATTERN.search(body) is None


@pytest.mark.parametrize("status", ["deactivated", "expired"])
def test_the_name_of_a_key_that_no_longer_works_may_be_reused(admin_client, admin, make_key, team, status):
    from floqast.columns import utcnow

    if status == "deactivated":
        make_key(admin, name="Power BI", deleted_at=utcnow(), deleted_by_id=admin.id)
    else:
        make_key(admin, name="Power BI", expires_on=team.today() - timedelta(days=1))

    response = create(admin_client, name="power BI")

    assert response.status_code == 201
    assert key_count() == 2


def test_the_name_of_a_key_expiring_today_is_still_taken(admin_client, admin, make_key, team):
    make_key(admin, name="Power BI", expires_on=team.today())

    response = create(admin_client, name="Power BI")

    assert response.status_code == 422
    assert key_count() == 1


def test_a_name_is_stored_nfkc_normalised(admin_client):
    assert create(admin_client, name=" Ｄｕｐ Ｎａｍｅ\u3000").status_code == 201
    assert only_key().name == "Dup Name"


def test_a_name_is_stored_with_each_run_of_spaces_made_one(admin_client):
    """ "Snowflake␣␣nightly␣␣load" was accepted beside "Snowflake nightly load", and showed identically."""
    assert create(admin_client, name="Snowflake  nightly\u00a0\u2003load").status_code == 201
    assert only_key().name == "Snowflake nightly load"


def stored_as_before(key, name: str) -> None:
    """Give the key `name` as it is, as a key created before names were normalised may have it stored."""
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(name=name))
    db.session.commit()


@pytest.mark.parametrize("stored", ["Ｐｏｗｅｒ ＢＩ", "Power   BI"], ids=["full-width", "spaced"])
def test_a_stored_name_in_another_form_is_still_taken(admin_client, admin, make_key, stored):
    key, _ = make_key(admin)
    stored_as_before(key, stored)

    response = create(admin_client, name="power bi")

    assert response.status_code == 422
    assert key_count() == 1


def test_another_teams_key_names_are_free(admin_client, make_team, make_user, make_key):
    make_key(make_user(make_team("Globex")), name="Power BI")

    assert create(admin_client, name="Power BI").status_code == 201


def test_a_100_character_name_is_accepted(admin_client):
    assert create(admin_client, name="n" * 100).status_code == 201
    assert only_key().name == "n" * 100


# ---- escaping ----

NASTY = '<img src=x onerror="alert(1)"> & "Q"'


def test_html_in_a_name_is_escaped_everywhere(admin_client, admin, make_key):
    created = create(admin_client, name=NASTY)
    key = only_key()
    assert key.name == NASTY
    pages = {
        "create": created,
        "list": admin_client.get("/settings/api-keys"),
        "fragment": admin_client.get("/settings/api-keys?status=all", headers=HTMX),
        "confirm": admin_client.get(f"/settings/api-keys/{key.id}/delete"),
        "duplicate error": create(admin_client, name=NASTY),
        "delete": admin_client.delete(
            f"/settings/api-keys/{key.id}",
            headers={**HTMX, "X-CSRFToken": csrf_token(admin_client, "/settings/api-keys")},
        ),
    }
    for what, response in pages.items():
        body = response.get_data(as_text=True)
        assert "<img" not in body, what
        assert "&lt;img src=x onerror=" in body, what

    page = parse_html(pages["create"])
    assert NASTY in text_of(page.find("section", class_="reveal").find("h2"))
    assert text_of(page.find("tr", id=f"key-{key.id}").find("th")) == NASTY
    trash = parse_html(pages["list"]).find("a", attrs={"aria-label": f"Delete key {NASTY}"})
    assert trash is not None
