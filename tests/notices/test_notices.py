"""Key notices by email: `flask --app wsgi keys notify` mails a key's creator and its team's admins before and
when the key expires, and sends the notices of revoked keys, to a real SMTP server in the test process."""

import ipaddress
import re
import ssl
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

import floqast.columns
import floqast.notices.outbox
from floqast.accounts.models import Role
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.actions import deactivate_key, roll_key
from floqast.keys.models import ApiKey, Service
from floqast.notices.outbox import KeyNotice, NoticeKind, notify_key_admins
from helpers import MailServer, assert_refused, free_port, log_in, parse_html, text_of

KEY_PATTERN = re.compile(r"fq_[0-9A-Za-z]{38}")
PAGE = "https://keys.example.com/settings/api-keys/{}"


def notify(runner):
    return runner.invoke(args=["keys", "notify"])


def freeze(monkeypatch, moment: datetime) -> None:
    """Make the app's clock read `moment`: the teams' dates, and the notices' own."""
    for module in (floqast.columns, floqast.notices.outbox):
        monkeypatch.setattr(module, "utcnow", lambda: moment)


def inbox(server: MailServer) -> list[tuple[str, str]]:
    """(envelope recipient, subject) of each message the server accepted, in order."""
    return [(recipient, message["Subject"]) for recipients, message in server.received for recipient in recipients]


def bodies(message) -> dict[str, str]:
    """The plain-text and HTML parts of a message by subtype, runs of whitespace made one space."""
    return {part.get_content_subtype(): " ".join(part.get_content().split())
            for part in message.walk() if part.get_content_maintype() == "text"}


def unsent() -> int:
    return db.session.scalar(select(func.count()).where(KeyNotice.sent_at.is_(None)))


@pytest.fixture
def sysadmin(team, make_user):
    return make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")


@pytest.fixture
def bystanders(team, make_user, make_team):
    """People who never get a key's notices: the team's Manager and User, and another team's Admin."""
    make_user(team, Role.MANAGER, email="morgan@acme.test")
    make_user(team, Role.USER, email="uma@acme.test")
    make_user(make_team(name="Globex"), Role.ADMIN, email="gale@globex.test")


def soon(team, days: int = 5):
    return team.today() + timedelta(days=days)


# ---------------------------------------------------------------- who gets what, once


def test_notify_mails_the_creator_and_the_teams_admins(runner, mail_server, team, admin, sysadmin, bystanders,
                                                       make_key):
    key, _ = make_key(admin, name="Power BI connector", expires_on=soon(team))
    result = notify(runner)
    assert result.exit_code == 0, result.output
    assert result.output == "Sent 2 notices.\n"
    subject = f'API key "Power BI connector" expires on {key.expires_on.isoformat()}'
    assert sorted(inbox(mail_server)) == [("admin@acme.test", subject), ("sam@acme.test", subject)]
    for recipients, message in mail_server.received:
        assert message["From"] == "FloQast Open API <keys@floqast.test>"
        assert [message["To"].addresses[0].addr_spec] == recipients


def test_a_creator_who_is_no_longer_an_admin_still_hears_about_the_key(runner, mail_server, team, admin, make_user,
                                                                        make_key):
    creator = make_user(team, Role.MANAGER, email="morgan@acme.test", name="Morgan Manager")
    make_key(creator, name="Old script", expires_on=soon(team))
    assert notify(runner).exit_code == 0
    assert sorted(recipient for recipient, _ in inbox(mail_server)) == ["admin@acme.test", "morgan@acme.test"]
    [to_creator] = [message for recipients, message in mail_server.received if recipients == ["morgan@acme.test"]]
    assert "because you created this key" in bodies(to_creator)["plain"]


def test_a_second_run_sends_nothing_new(runner, mail_server, team, admin, sysadmin, make_key):
    make_key(admin, name="Power BI connector", expires_on=soon(team))
    assert notify(runner).output == "Sent 2 notices.\n"
    second = notify(runner)
    assert second.exit_code == 0
    assert second.output == "Sent 0 notices.\n"
    assert len(mail_server.received) == 2


@pytest.mark.parametrize(("days_left", "kind"), [
    (30, None),
    (8, None),
    (7, NoticeKind.EXPIRES_IN_7_DAYS),
    (2, NoticeKind.EXPIRES_IN_7_DAYS),
    (1, NoticeKind.EXPIRES_IN_1_DAY),
    (0, NoticeKind.EXPIRES_IN_1_DAY),
    (-1, NoticeKind.EXPIRED),
    (-7, NoticeKind.EXPIRED),
    (-8, None),  # expired long before this run: no mail about it now
])
def test_the_notice_a_key_is_due(runner, mail_server, team, admin, make_key, days_left, kind):
    key, _ = make_key(admin, name="Warehouse load", expires_on=team.today() + timedelta(days=days_left))
    assert notify(runner).exit_code == 0
    assert [notice.kind for notice in KeyNotice.for_key(key)] == ([kind] if kind else [])
    subjects = {
        None: [],
        NoticeKind.EXPIRES_IN_7_DAYS: [f'API key "Warehouse load" expires on {key.expires_on.isoformat()}'],
        NoticeKind.EXPIRES_IN_1_DAY: [f'API key "Warehouse load" expires on {key.expires_on.isoformat()}'],
        NoticeKind.EXPIRED: ['API key "Warehouse load" has expired'],
    }
    assert [subject for _, subject in inbox(mail_server)] == subjects[kind]


def test_each_threshold_is_mailed_once_as_the_days_pass(runner, monkeypatch, mail_server, team, admin, make_key):
    start = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)
    freeze(monkeypatch, start)
    key, _ = make_key(admin, name="Nightly load", expires_on=team.today() + timedelta(days=10))
    expected = {3: "expires on 2026-12-11", 4: None, 8: None, 9: "expires on 2026-12-11", 10: None,
                11: "has expired", 12: None, 17: None}
    for day, news in expected.items():
        freeze(monkeypatch, start + timedelta(days=day))
        before = len(mail_server.received)
        result = notify(runner)
        assert result.exit_code == 0, result.output
        received = [message["Subject"] for message in mail_server.messages[before:]]
        assert received == ([f'API key "Nightly load" {news}'] if news else []), day
    assert [notice.kind for notice in KeyNotice.for_key(key)] == [
        NoticeKind.EXPIRES_IN_7_DAYS, NoticeKind.EXPIRES_IN_1_DAY, NoticeKind.EXPIRED,
    ]


def test_a_key_seen_first_a_day_before_it_expires_gets_only_the_one_day_notice(runner, mail_server, team, admin,
                                                                               make_key):
    key, _ = make_key(admin, name="Pilot", expires_on=team.today() + timedelta(days=1))
    assert notify(runner).output == "Sent 1 notice.\n"
    assert [notice.kind for notice in KeyNotice.for_key(key)] == [NoticeKind.EXPIRES_IN_1_DAY]


# ---------------------------------------------------------------- what a message says


def test_dates_in_the_mail_are_the_teams(runner, monkeypatch, mail_server, make_team, make_user, make_key):
    # 20:00 UTC on Dec 1 is already 09:00 on Dec 2 in Auckland (NZDT, UTC+13).
    now = datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc)
    freeze(monkeypatch, now)
    team = make_team(name="Kiwi Ltd", timezone="Pacific/Auckland")
    admin = make_user(team, Role.ADMIN, email="aroha@kiwi.test", name="Aroha")
    key, _ = make_key(admin, name="Xero sync", expires_on=datetime(2026, 12, 8).date(),
                      last_used_at=now - timedelta(minutes=30))
    assert notify(runner).exit_code == 0
    [message] = mail_server.messages
    assert message["Subject"] == 'API key "Xero sync" expires on 2026-12-08'
    for body in bodies(message).values():
        assert "expires on Dec 8, 2026" in body
        # The key stops at the end of Dec 8 in Auckland, 11:00 UTC on Dec 8.
        assert "it stops working at Dec 9, 2026, 12:00 AM NZDT, the end of that day in Pacific/Auckland" in body
        assert "Last used: Dec 2, 2026, 8:30 AM NZDT" in body
        assert "UTC" not in body


def test_the_mail_links_to_the_keys_page_and_never_holds_the_key(runner, mail_server, team, admin, make_key):
    key, plaintext = make_key(admin, name="Power BI connector", services=[Service.CHECKLISTS], expires_on=soon(team))
    assert notify(runner).exit_code == 0
    [message] = mail_server.messages
    texts = bodies(message)
    assert set(texts) == {"plain", "html"}
    assert f"Open the key's page: {PAGE.format(key.id)}" in texts["plain"]
    assert f'<a href="{PAGE.format(key.id)}"' in texts["html"]
    for body in texts.values():
        assert f"({key.hint}…)" in body
        assert "Services: Checklist Analytics." in body
    raw = message.as_string()
    for text in (raw, *texts.values()):
        assert plaintext not in text
        assert plaintext[len(key.hint):] not in text  # not even the part after the hint
        assert KEY_PATTERN.search(text) is None


def test_a_key_name_is_escaped_in_the_html(runner, mail_server, team, admin, make_key):
    make_key(admin, name='<b>"Ops" & co</b>', expires_on=soon(team))
    assert notify(runner).exit_code == 0
    [message] = mail_server.messages
    assert message["Subject"] == f'API key "<b>"Ops" & co</b>" expires on {soon(team).isoformat()}'
    html = bodies(message)["html"]
    assert "<b>" not in html
    assert "&lt;b&gt;&#34;Ops&#34; &amp; co&lt;/b&gt;" in html


def header_lines(raw: bytes) -> list[str]:
    """The header lines of a message as it was sent (folded lines apart)."""
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def unfolded_headers(raw: bytes) -> list[str]:
    """The headers of a message as it was sent, each on one line."""
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ").split("\r\n")


@pytest.mark.parametrize("name", [
    "=?utf-8?q?=0D=0ABcc:_evil@attacker.test=0D=0A=0D=0Ainjected_body?=",
    "=?utf-8?b?DQpCY2M6IGV2aWxAYXR0YWNrZXIudGVzdA0KDQppbmplY3RlZCBib2R5?=",
    "ok =?us-ascii?q?=0ABcc=3A_evil=40attacker=2Etest?= ok",
], ids=["q", "b", "inside"])
def test_an_encoded_word_in_a_name_is_shown_as_typed_and_adds_no_header_nor_body(runner, mail_server, team, admin,
                                                                                  make_user, make_key, name):
    """CVE-2024-6923: Python before 3.11.10 decoded an encoded word in a header's value and wrote the line break
    in it as a real one, so a key (or person) so named added a Bcc and a body to its notices."""
    creator = make_user(team, Role.MANAGER, email="morgan@acme.test", name=name)
    key, _ = make_key(creator, name=name, expires_on=soon(team))
    assert notify(runner).output == "Sent 2 notices.\n"
    assert sorted(recipients[0] for recipients, _ in mail_server.received) == ["admin@acme.test", "morgan@acme.test"]
    for raw, (_, message) in zip(mail_server.raw, mail_server.received, strict=True):
        lines = header_lines(raw)
        assert not any(line.lower().startswith("bcc") for line in lines)
        assert all(len(line) <= 78 for line in lines)
        assert not any("attacker" in line for line in lines)  # in the headers, the name is only encoded
        assert message["Bcc"] is None and message.get_content_type() == "multipart/alternative"
        assert message["Subject"] == f'API key "{name}" expires on {key.expires_on.isoformat()}'  # as typed
        assert f'"{name}"' in bodies(message)["plain"]
    [raw_to_creator] = [raw for raw, (recipients, _) in zip(mail_server.raw, mail_server.received, strict=True)
                        if recipients == ["morgan@acme.test"]]
    [to] = [line for line in unfolded_headers(raw_to_creator) if line.startswith("To: ")]
    assert str(make_header(decode_header(to.removeprefix("To: ")))) == f"{name} <morgan@acme.test>"  # as RFC 2047 reads


def test_a_name_with_a_line_separator_from_before_it_was_refused_stops_no_notice(runner, mail_server, make_team,
                                                                                make_user, make_key):
    """A key named with U+2028 (stored before names refused it) made the Subject raise, and `keys notify` stopped
    there on every run: no team got its notices. Its Subject shows a space instead; every notice goes."""
    teams = [make_team(name) for name in ("Acme Corp", "Globex", "Initech")]
    admins = [make_user(team, Role.ADMIN, email=f"admin@{team.name.split()[0].lower()}.test") for team in teams]
    make_key(admins[0], name="Nightly\u2028load", expires_on=soon(teams[0]))
    make_key(admins[1], name="Para\u2029graph \x85 and\x1ccontrols", expires_on=soon(teams[1]))
    make_key(admins[2], name="Power BI", expires_on=soon(teams[2]))
    result = notify(runner)
    assert result.exit_code == 0, result.output
    assert result.output == "Sent 3 notices.\n"
    assert sorted(subject.split(" expires")[0] for _, subject in inbox(mail_server)) == [
        'API key "Nightly load"', 'API key "Para graph and controls"', 'API key "Power BI"']


def test_a_long_name_in_any_script_is_folded_and_reads_back_whole(runner, mail_server, team, admin, make_key):
    name = "Relevé mensuel 月次レポート " * 4 + "Ωmega"
    key, _ = make_key(admin, name=name[:100], expires_on=soon(team))
    assert notify(runner).exit_code == 0
    [raw] = mail_server.raw
    assert all(len(line) <= 78 for line in header_lines(raw))
    assert mail_server.messages[0]["Subject"] == f'API key "{key.name}" expires on {key.expires_on.isoformat()}'


def test_a_message_that_cannot_be_built_is_recorded_failed_and_the_others_still_go(runner, monkeypatch, client,
                                                                                  mail_server, team, admin, sysadmin,
                                                                                  make_key):
    broken, _ = make_key(admin, name="Broken", expires_on=soon(team))
    fine, _ = make_key(admin, name="Fine", expires_on=soon(team))
    build = floqast.notices.outbox._message

    def failing(notice):
        if notice.api_key_id == broken.id and notice.user.email == "sam@acme.test":
            raise RuntimeError("the template could not be read")
        return build(notice)

    monkeypatch.setattr(floqast.notices.outbox, "_message", failing)
    result = notify(runner)

    assert result.exit_code == 1
    assert result.stdout == "Sent 3 notices.\n"
    [failed] = [notice for notice in KeyNotice.for_key(broken) if notice.sent_at is None]
    assert result.stderr.splitlines() == [
        f"Not sent to sam@acme.test: RuntimeError: the template could not be read (expires within 7 days notice "
        f"about key {broken.hint}…, notice {failed.id})"]
    assert failed.failure == "RuntimeError: the template could not be read" and failed.failed_at is not None
    log_in(client, admin)
    notices = text_of(parse_html(client.get(f"/settings/api-keys/{broken.id}")).find(id="notices"))
    assert "Not sent" in notices and "RuntimeError: the template could not be read. Tried again" in notices

    monkeypatch.setattr(floqast.notices.outbox, "_message", build)
    assert notify(runner).output == "Sent 1 notice.\n"
    db.session.expire_all()
    assert (failed.sent_at is not None, failed.failure, failed.failed_at) == (True, None, None)


# ---------------------------------------------------------------- keys that get nothing


def test_a_key_deleted_before_its_notice_is_due_gets_none(runner, mail_server, team, admin, make_key):
    key, _ = make_key(admin, name="Retired", expires_on=soon(team))
    deactivate_key(key, by=admin)
    db.session.commit()
    assert notify(runner).output == "Sent 0 notices.\n"
    assert mail_server.received == []
    assert KeyNotice.for_key(key) == []


def test_a_key_deleted_while_its_notice_waits_gets_none(runner, mail_server, team, admin, make_key):
    key, _ = make_key(admin, name="Retired", expires_on=soon(team))
    mail_server.stop()
    assert notify(runner).exit_code == 1
    assert unsent() == 1
    deactivate_key(key, by=admin)
    db.session.commit()
    mail_server.start()
    assert notify(runner).output == "Sent 0 notices.\n"
    assert mail_server.received == []
    assert KeyNotice.for_key(key) == []


@pytest.mark.parametrize("waiting", [False, True], ids=["rolled before it is due", "rolled while it waits"])
def test_a_rolled_key_gets_no_expiry_notice(runner, mail_server, team, admin, make_key, waiting):
    """The old key of a roll stops anyway; its replacement, with a lifetime of its own, is the one to hear about."""
    key, _ = make_key(admin, name="Rolled", expires_on=soon(team), created_at=utcnow() - timedelta(days=80))
    if waiting:
        mail_server.stop()
        assert notify(runner).exit_code == 1
        mail_server.start()
    replacement, _ = roll_key(key, admin, timedelta(hours=24), key.replacement_expires_on(team.today()))
    db.session.commit()
    assert notify(runner).output == "Sent 0 notices.\n"
    assert mail_server.received == []
    assert KeyNotice.for_key(key) == [] and KeyNotice.for_key(replacement) == []


def test_keys_of_a_team_with_open_api_off_and_keys_without_expiry_get_none(runner, mail_server, make_team, make_user,
                                                                           make_key, team, admin):
    off = make_team(name="Initech", open_api=False)
    make_key(make_user(off, Role.ADMIN, email="bill@initech.test"), expires_on=soon(off))
    make_key(admin, name="Forever", expires_on=None)
    assert notify(runner).output == "Sent 0 notices.\n"
    assert mail_server.received == []


# ---------------------------------------------------------------- failed deliveries wait for the next run


def test_a_run_while_the_mail_server_is_down_loses_nothing(runner, mail_server, team, admin, sysadmin, make_key):
    make_key(admin, name="Power BI connector", expires_on=soon(team))
    mail_server.stop()
    down = notify(runner)
    assert down.exit_code == 1
    assert down.stdout == "Sent 0 notices.\n"
    assert "Mail server unavailable" in down.stderr
    assert "2 notices wait for the next run" in down.stderr
    assert unsent() == 2

    mail_server.start()
    up = notify(runner)
    assert up.exit_code == 0, up.output
    assert up.output == "Sent 2 notices.\n"
    assert sorted(recipient for recipient, _ in inbox(mail_server)) == ["admin@acme.test", "sam@acme.test"]
    assert unsent() == 0


def test_a_refused_recipient_is_retried_on_the_next_run(runner, mail_server, team, admin, sysadmin, make_key):
    make_key(admin, name="Power BI connector", expires_on=soon(team))
    mail_server.refused.add("sam@acme.test")
    first = notify(runner)
    assert first.exit_code == 1
    assert first.stdout == "Sent 1 notice.\n"
    assert "Not sent to sam@acme.test: sam@acme.test refused: 550 5.1.1 No such mailbox" in first.stderr
    assert [recipient for recipient, _ in inbox(mail_server)] == ["admin@acme.test"]

    mail_server.refused.clear()
    second = notify(runner)
    assert second.exit_code == 0
    assert second.output == "Sent 1 notice.\n"
    assert [recipient for recipient, _ in inbox(mail_server)] == ["admin@acme.test", "sam@acme.test"]


def test_a_refused_recipients_notice_records_why_until_it_is_sent(runner, mail_server, team, admin, sysadmin,
                                                                  make_key):
    key, _ = make_key(admin, name="Power BI connector", expires_on=soon(team))
    mail_server.refused.add("sam@acme.test")
    assert notify(runner).exit_code == 1
    [refused] = [notice for notice in KeyNotice.for_key(key) if notice.sent_at is None]
    assert refused.failure == "sam@acme.test refused: 550 5.1.1 No such mailbox"
    mail_server.refused.clear()
    assert notify(runner).exit_code == 0
    db.session.expire_all()
    assert (refused.sent_at is not None, refused.failure) == (True, None)


@pytest.fixture
def tls_server(app, tmp_path, monkeypatch):
    """A mail server that takes mail only after STARTTLS and a login, with a certificate for 127.0.0.1 that this
    process trusts (SSL_CERT_FILE)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = MailServer(free_port(), login=("notices", "s3cret"), tls_context=context, require_starttls=True)
    server.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_FROM="keys@floqast.test",
                      APP_BASE_URL="https://keys.example.com", MAIL_USE_TLS=True, MAIL_USERNAME="notices",
                      MAIL_PASSWORD="s3cret")
    yield server
    server.stop()


def test_sends_after_starttls_and_a_login(runner, tls_server, team, admin, make_key):
    make_key(admin, expires_on=soon(team))
    assert notify(runner).output == "Sent 1 notice.\n"
    assert [recipient for recipient, _ in inbox(tls_server)] == ["admin@acme.test"]


@pytest.mark.parametrize(("setting", "value", "said"), [
    ("MAIL_PASSWORD", "wrong", "535"),  # authentication failed
    ("MAIL_USE_TLS", False, "SMTP AUTH extension not supported"),  # offered only after STARTTLS
])
def test_a_login_the_server_refuses_leaves_the_notice_for_the_next_run(app, runner, tls_server, team, admin, make_key,
                                                                      setting, value, said):
    make_key(admin, expires_on=soon(team))
    app.config[setting] = value
    refused = notify(runner)
    assert refused.exit_code == 1
    assert f"cannot send through 127.0.0.1:{tls_server.port}: {said}" in refused.stderr
    assert tls_server.received == [] and unsent() == 1


# ---------------------------------------------------------------- without a mail server


def test_outside_demo_runs_notify_without_a_mail_server_exits_naming_what_to_set(runner, team, admin, make_key):
    make_key(admin, expires_on=soon(team))
    line = assert_refused(notify(runner), "MAIL_SERVER", "MAIL_FROM", "APP_BASE_URL", "FLOQAST_DEMO=1")
    assert "Mail is not set up" in line
    assert unsent() == 0  # nothing recorded that could never go


def test_a_missing_sender_is_named_alone(app, runner, mail_server):
    app.config["MAIL_FROM"] = None
    line = assert_refused(notify(runner), "MAIL_FROM")
    assert "MAIL_SERVER" not in line.split("(")[0]


def test_demo_runs_without_a_mail_server_write_eml_files_to_the_outbox(app, runner, monkeypatch, tmp_path, team,
                                                                       admin, sysadmin, make_key):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    app.config["DEMO"] = True
    key, plaintext = make_key(admin, name="Power BI connector", expires_on=soon(team))
    result = notify(runner)
    assert result.exit_code == 0, result.output
    paths = [Path(line.removeprefix("Wrote ")) for line in result.output.splitlines() if line.startswith("Wrote ")]
    assert result.output.splitlines()[-1] == "Sent 2 notices."
    assert sorted(paths) == sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(paths) == 2
    messages = [message_from_bytes(path.read_bytes(), policy=policy.default) for path in paths]
    assert sorted(message["To"].addresses[0].addr_spec for message in messages) == ["admin@acme.test", "sam@acme.test"]
    for message in messages:
        assert message["Subject"] == f'API key "Power BI connector" expires on {key.expires_on.isoformat()}'
        assert f"http://127.0.0.1:5000/settings/api-keys/{key.id}" in bodies(message)["plain"]
        assert plaintext not in message.as_string()
    assert notify(runner).output == "Sent 0 notices.\n"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_the_demos_outbox_gets_one_notice_for_its_soon_expiring_key(app, runner, monkeypatch, tmp_path, empty_db):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    app.config["DEMO"] = True
    assert runner.invoke(args=["demo"]).exit_code == 0
    result = notify(runner)
    assert result.exit_code == 0, result.output
    messages = [message_from_bytes(path.read_bytes(), policy=policy.default)
                for path in sorted((tmp_path / "outbox").glob("*.eml"))]
    # Each team has one key that expires within 7 days: each of its admins gets that one notice.
    assert sorted((message["To"].addresses[0].addr_spec, message["Subject"]) for message in messages) == sorted(
        (email, f'API key "Snowflake nightly load" expires on {key.expires_on.isoformat()}')
        for key in db.session.scalars(select(ApiKey).where(ApiKey.name == "Snowflake nightly load"))
        for email in (["admin@acme.test", "sysadmin@acme.test"] if key.team.name == "Acme Corp"
                      else ["admin@globex.test"])
    )
    assert result.output.splitlines()[-1] == "Sent 3 notices."
    assert notify(runner).output == "Sent 0 notices.\n"


# ---------------------------------------------------------------- notices recorded by other code


def test_a_revoked_keys_notice_is_recorded_without_mail_and_sent_by_the_next_run(runner, monkeypatch, mail_server,
                                                                                 make_team, make_user, make_key):
    mail_server.stop()  # recording never talks to the mail server
    now = datetime(2026, 12, 2, 17, 15, tzinfo=timezone.utc)
    freeze(monkeypatch, now)
    team = make_team(timezone="America/Los_Angeles")
    admin = make_user(team, Role.ADMIN, email="admin@acme.test")
    key, _ = make_key(admin, name="Power BI connector")
    deactivate_key(key, by=admin)
    notify_key_admins(key, NoticeKind.REVOKED, reason="reported as leaked")
    notify_key_admins(key, NoticeKind.REVOKED, reason="reported as leaked")  # reported twice: one notice
    db.session.commit()
    assert [(notice.kind, notice.sent_at) for notice in KeyNotice.for_key(key)] == [(NoticeKind.REVOKED, None)]

    mail_server.start()
    assert notify(runner).output == "Sent 1 notice.\n"
    [message] = mail_server.messages
    assert message["Subject"] == 'API key "Power BI connector" was revoked'
    for body in bodies(message).values():
        assert "was revoked on Dec 2, 2026, 9:15 AM PST because it was reported as leaked." in body
    assert notify(runner).output == "Sent 0 notices.\n"


def test_notices_for_a_key_say_who_got_what_and_when(runner, mail_server, team, admin, sysadmin, make_key):
    key, _ = make_key(admin, name="Power BI connector", expires_on=soon(team))
    other, _ = make_key(admin, name="Other", expires_on=soon(team))
    mail_server.refused.add("sam@acme.test")
    notify(runner)
    notices = KeyNotice.for_key(key)
    assert [(notice.kind, notice.user.email, notice.sent_at is not None) for notice in notices] == [
        (NoticeKind.EXPIRES_IN_7_DAYS, "admin@acme.test", True),
        (NoticeKind.EXPIRES_IN_7_DAYS, "sam@acme.test", False),
    ]
    assert {notice.api_key_id for notice in KeyNotice.for_key(other)} == {other.id}


def test_a_revoked_keys_notice_without_a_reason_says_when(runner, mail_server, team, admin, make_key):
    key, _ = make_key(admin, name="Power BI connector")
    deactivate_key(key, by=admin)
    notify_key_admins(key, NoticeKind.REVOKED)
    db.session.commit()
    assert notify(runner).output == "Sent 1 notice.\n"
    [message] = mail_server.messages
    for body in bodies(message).values():
        assert f"was revoked on {key.deleted_at:%b} {key.deleted_at.day}, {key.deleted_at.year}," in body
        assert "because it was" not in body
