"""Which addresses a webhook may go to, and an answer too slow to wait for."""

import ipaddress
import time

import pytest
from sqlalchemy import select

from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import Service
from floqast.webhooks import actions as webhook_actions
from floqast.webhooks import sender
from floqast.webhooks.addresses import TargetRefused, check_url, is_public
from floqast.webhooks.models import WebhookAttempt
from helpers import WebhookReceiver


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
    "192.0.2.10", "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
])
def test_internal_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "140.82.112.3", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_internet_addresses_are_public(address):
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/", "https:///path", "javascript:alert(1)",
                                 "https://hooks.example.com:99999/", "https://hooks.example.com/#top"])
def test_urls_that_are_refused_whatever_the_setting(url):
    with pytest.raises(TargetRefused):
        check_url(url, allow_private=True)


def test_the_setting_allows_plain_http_to_loopback():
    assert check_url("http://127.0.0.1:8080/hooks?x=1", allow_private=True) == ("http", "127.0.0.1", 8080,
                                                                                 "/hooks?x=1")


class SlowReceiver(WebhookReceiver):
    """A receiver that keeps the request waiting longer than the sender waits."""

    def __init__(self, seconds: float):
        super().__init__()
        handler = self.server.RequestHandlerClass
        do_post = handler.do_POST

        def slow_post(request_handler):
            time.sleep(seconds)
            do_post(request_handler)

        handler.do_POST = slow_post


def test_an_answer_that_does_not_come_in_time_is_a_failed_attempt(app, admin, runner, monkeypatch):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = True
    monkeypatch.setattr(sender, "CONNECT_TIMEOUT", 0.2)
    with SlowReceiver(1.0) as receiver:
        webhook_actions.add_endpoint(admin, receiver.url, ["api_key.created"], None)
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        assert "failed 1" in runner.invoke(args=["webhooks", "deliver"]).output
    attempt = db.session.scalar(select(WebhookAttempt))
    assert attempt.status_code is None and attempt.answer == "No answer within 0.2 seconds."
