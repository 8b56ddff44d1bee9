"""Pepper rotation: API_KEY_PEPPERS read once, API_KEY_PEPPER as pepper 1, new keys under the newest pepper with its
id, a presented key checked under every pepper in one query, old keys refused once their pepper is removed, and
`keys pepper-status` listing what each pepper still holds; on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast import create_app
from floqast.config import ConfigError, key_peppers, pepper_pairs
from floqast.extensions import db
from floqast.keys import actions, tokens
from floqast.keys.authenticate import authenticate
from floqast.keys.models import ApiKey, Service
from helpers import CLIENT_IP, ME, assert_api_error, reload, statements_sent

OLD, NEW = "the-old-pepper", "the-new-pepper"


@pytest.fixture
def old_key(app, admin, make_key):
    """A key made before the rotation, under API_KEY_PEPPER alone (pepper 1)."""
    app.config["KEY_PEPPERS"] = key_peppers({"API_KEY_PEPPER": OLD})
    key, plaintext = make_key(admin, name="Warehouse load", pepper=OLD.encode())
    return key, plaintext


def rotate(app, *pairs: str, keep_pepper_1=True) -> None:
    """Configure the app's peppers as an operator would: API_KEY_PEPPER (pepper 1) kept or not, and API_KEY_PEPPERS."""
    app.config["KEY_PEPPERS"] = key_peppers({"API_KEY_PEPPER": OLD if keep_pepper_1 else None,
                                             "API_KEY_PEPPERS": pepper_pairs(",".join(pairs))})


def test_pairs_are_read_newest_last_and_api_key_pepper_is_pepper_1():
    assert pepper_pairs(" 2:abc , 3:d:e:f") == ((2, "abc"), (3, "d:e:f"))
    assert key_peppers({"API_KEY_PEPPER": "one", "API_KEY_PEPPERS": ((2, "two"),)}) == {1: b"one", 2: b"two"}
    assert list(key_peppers({"API_KEY_PEPPER": "one", "API_KEY_PEPPERS": ((2, "two"), (1, "one"))})) == [2, 1]
    assert key_peppers({"API_KEY_PEPPERS": ((2, "two"),)}) == {2: b"two"}
    assert key_peppers({"API_KEY_PEPPER": "one"}) == {1: b"one"}


@pytest.mark.parametrize("value, words", [
    ("two", "not id:secret"), ("0:zero", "not id:secret"), ("x:secret", "not id:secret"), ("2:", "not id:secret"),
    ("2:a,,3:b", "not id:secret"), ("2:a,2:b", "gives pepper 2 twice"),
])
def test_a_malformed_list_stops_the_start_saying_what_to_write(value, words):
    with pytest.raises(ConfigError, match=words):
        pepper_pairs(value)


def test_pepper_1_given_twice_with_different_secrets_stops_the_start():
    with pytest.raises(ConfigError, match="API_KEY_PEPPERS gives pepper 1 another secret"):
        key_peppers({"API_KEY_PEPPER": "one", "API_KEY_PEPPERS": ((1, "other"),)})


def test_the_app_reads_api_key_peppers_from_the_environment_and_needs_no_api_key_pepper(monkeypatch, tmp_path):
    """A production start (no debug, no demo) with API_KEY_PEPPERS and no API_KEY_PEPPER."""
    monkeypatch.delenv("API_KEY_PEPPER", raising=False)
    production = type("Production", (), {"SECRET_KEY": "a-secret", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                                         "INSTANCE_PATH": str(tmp_path), "DEBUG": False, "DEMO": False})
    monkeypatch.setenv("API_KEY_PEPPERS", "2:second,3:third")
    assert create_app(production).config["KEY_PEPPERS"] == {2: b"second", 3: b"third"}
    monkeypatch.setenv("API_KEY_PEPPERS", "2 second")
    with pytest.raises(ConfigError, match="API_KEY_PEPPERS holds an entry that is not id:secret"):
        create_app(production)


def test_a_demo_run_keeps_its_generated_pepper_as_pepper_1_beside_api_key_peppers(monkeypatch, tmp_path):
    monkeypatch.delenv("API_KEY_PEPPER", raising=False)
    demo = type("Demo", (), {"SECRET_KEY": None, "API_KEY_PEPPER": None, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                             "INSTANCE_PATH": str(tmp_path), "DEBUG": False, "DEMO": True})
    generated = create_app(demo).config["API_KEY_PEPPER"]
    monkeypatch.setenv("API_KEY_PEPPERS", "2:second")
    assert create_app(demo).config["KEY_PEPPERS"] == {1: generated.encode(), 2: b"second"}


def test_with_two_peppers_old_keys_work_and_new_keys_take_the_newest(app, api_get, admin, old_key):
    key, old_plaintext = old_key
    rotate(app, f"2:{NEW}")

    new_key, new_plaintext = actions.create_key(admin, "Nightly load", list(Service), None)
    db.session.commit()

    assert (reload(key).pepper_id, reload(new_key).pepper_id) == (1, 2)
    assert reload(new_key).digest == tokens.digest(new_plaintext, NEW.encode())
    assert api_get(ME, old_plaintext).get_json()["data"]["name"] == "Warehouse load"
    assert api_get(ME, new_plaintext).get_json()["data"]["name"] == "Nightly load"


def test_a_key_is_checked_under_every_pepper_in_one_query(app, admin, old_key, key_read_every_pull):
    _, plaintext = old_key
    rotate(app, f"2:{NEW}", f"3:{NEW}-three")
    db.session.remove()
    with statements_sent() as sent:
        assert authenticate(plaintext, CLIENT_IP, None).key.name == "Warehouse load"
    assert len(sent) == 1
    assert "api_keys.digest IN (" in sent[0]


def test_a_roll_moves_a_key_to_the_newest_pepper_and_then_the_old_pepper_can_go(app, api_get, admin, old_key,
                                                                                 runner):
    key, old_plaintext = old_key
    rotate(app, f"2:{NEW}")
    replacement, new_plaintext = actions.roll_key(key, admin, timedelta(0), None)
    db.session.commit()
    assert reload(replacement).pepper_id == 2

    rotate(app, f"2:{NEW}", keep_pepper_1=False)

    assert api_get(ME, new_plaintext).status_code == 200
    assert_api_error(api_get(ME, old_plaintext), 401, "The API key is not valid.")


def test_removing_a_pepper_refuses_the_keys_still_under_it(app, api_get, admin, old_key):
    _, plaintext = old_key
    assert api_get(ME, plaintext).status_code == 200  # kept by this worker: its copy must not outlive the pepper
    rotate(app, f"2:{NEW}", keep_pepper_1=False)
    assert_api_error(api_get(ME, plaintext), 401, "The API key is not valid.")


def test_pepper_status_lists_the_working_keys_of_each_pepper(app, runner, admin, make_team, make_user, make_key,
                                                           old_key):
    rotate(app, f"2:{NEW}")
    globex_admin = make_user(make_team("Globex"), email="gale@globex.test")
    actions.create_key(admin, "Nightly load", list(Service), None)
    suspended, _ = actions.create_key(globex_admin, "Auditor", list(Service), None)
    actions.suspend_key(suspended, globex_admin, "Engagement on hold")
    make_key(admin, name="Gone", pepper=OLD.encode(), deleted_at=suspended.created_at)
    make_key(admin, name="Lapsed", pepper=OLD.encode(), expires_on=admin.team.today() - timedelta(days=1))
    make_key(admin, name="Lost", pepper=b"forgotten", pepper_id=7)
    db.session.commit()
    keys = {key.name: key for key in db.session.scalars(select(ApiKey))}

    def line(team: str, name: str, suffix: str = "") -> str:
        return f"  {team}: \"{name}\" {keys[name].hint}… id {keys[name].id}{suffix}"

    result = runner.invoke(args=["keys", "pepper-status"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Pepper 1 (configured): 1 working key",
        line("Acme Corp", "Warehouse load"),
        "Pepper 2 (configured, the newest: new keys are stored under it): 2 working keys",
        line("Acme Corp", "Nightly load"),
        line("Globex", "Auditor", " (suspended)"),
        "Pepper 7 (not configured: these keys are refused as unknown): 1 working key",
        line("Acme Corp", "Lost"),
    ]

    rotate(app, f"2:{NEW}", "3:newer")
    actions.deactivate_key(keys["Warehouse load"], admin)
    db.session.commit()
    output = runner.invoke(args=["keys", "pepper-status"]).output
    assert output.splitlines()[:2] == [
        "Pepper 1 (configured, and no working key uses it: it may be removed): 0 working keys",
        "Pepper 2 (configured): 2 working keys"]
