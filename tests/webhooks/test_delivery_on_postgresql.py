"""Two `webhooks deliver` runs at once on PostgreSQL send each message once: a run skips the messages another holds."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from floqast.events import KeyEvent
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import Service
from floqast.webhooks import actions as webhook_actions
from floqast.webhooks.models import WebhookMessage
from helpers import WebhookReceiver

DATABASE_URL = os.environ.get("DATABASE_URL", "")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="row locks need PostgreSQL (CI sets DATABASE_URL)")
def test_two_deliver_runs_at_once_send_each_message_once(app, admin):
    with WebhookReceiver() as first, WebhookReceiver() as second:
        for receiver in (first, second):
            webhook_actions.add_endpoint(admin, receiver.url, [KeyEvent.KEY_CREATED.value], None)
        for number in range(15):
            actions.create_key(admin, f"Load {number}", list(Service), None)
        db.session.commit()
        env = {**os.environ, "SECRET_KEY": app.config["SECRET_KEY"], "API_KEY_PEPPER": app.config["API_KEY_PEPPER"],
               "DATABASE_URL": DATABASE_URL, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "1"}
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "webhooks", "deliver"]
        runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    ids = Counter(headers["webhook-id"] for receiver in (first, second) for _, headers, _ in receiver.requests)
    assert len(ids) == 30 and set(ids.values()) == {1}
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(WebhookMessage.delivered_at.is_(None))) == 0
