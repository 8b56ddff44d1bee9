"""Sending mail: over SMTP to MAIL_SERVER, or, in demo runs without one, as .eml files in instance/outbox/.

The standard library's smtplib and email.message: a cron command sends a few messages a run, and the Flask
mail extensions wrap the same smtplib without adding what this needs (telling a refused recipient, which
waits for the next run, from an unreachable server, which ends this one).
"""

import secrets
import smtplib
import ssl
import textwrap
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from flask import current_app, render_template

from floqast.models import utcnow

DEMO_FROM = "FloQast Open API <no-reply@floqast.test>"
DEMO_BASE_URL = "http://127.0.0.1:5000"
# Seconds to wait on the mail server for each step (connect, each command) before giving up this run.
SMTP_TIMEOUT = 30


class MailNotConfigured(RuntimeError):
    """Mail is to be sent, but the settings to send it are missing."""


class ServerUnavailable(Exception):
    """The mail server cannot be reached, or refuses TLS or our login: nothing more goes out this run."""


class MessageRefused(Exception):
    """The server refused one message (its recipient, say); others may still go."""


def base_url() -> str:
    """Where people open the site, without a trailing slash, for links in mail."""
    return (current_app.config["APP_BASE_URL"] or DEMO_BASE_URL).rstrip("/")


def compose(name: str, email: str, subject: str, paragraphs: list[str], link_text: str, url: str) -> EmailMessage:
    """A message to one person: the paragraphs and a link, as plain text with an HTML alternative."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"] or DEMO_FROM
    try:
        message["To"] = Address(name, addr_spec=email)
    except (ValueError, HeaderParseError) as error:
        raise MessageRefused(f"{email!r} is not an address mail can be sent to") from error
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="floqast.notices.outbox")
    wrapped = [textwrap.fill(paragraph, 76, break_long_words=False, break_on_hyphens=False) for paragraph in paragraphs]
    message.set_content("\n\n".join([*wrapped, f"{link_text}:\n{url}"]) + "\n")
    html = render_template("mail/message.html", subject=subject, paragraphs=paragraphs, link_text=link_text, url=url)
    message.add_alternative(html, subtype="html")
    return message


class Outbox:
    """Demo runs without a mail server: each message becomes an .eml file that any mail program opens."""

    def __init__(self, directory: Path):
        self.directory = directory

    def send(self, message: EmailMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}.eml"
        path.write_bytes(bytes(message))
        return path

    def close(self) -> None:
        pass


class SmtpServer:
    """The mail server at MAIL_SERVER, connected on the first message and kept for the rest of the run."""

    def __init__(self, config):
        self.config = config
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        smtp = self.smtp or self._connect()
        try:
            smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise MessageRefused(_reason(error)) from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise ServerUnavailable(_reason(error)) from error

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        try:
            smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=SMTP_TIMEOUT)
            self.smtp = smtp
            if config["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            where = f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}"
            raise ServerUnavailable(f"cannot send through {where}: {_reason(error)}") from error
        return smtp

    def close(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
        self.smtp = None


def _reason(error: Exception) -> str:
    """What went wrong, in one line, as the server or the network said it."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{address} refused: {code} {text.decode(errors='replace')}"
                         for address, (code, text) in error.recipients.items())
    if isinstance(error, smtplib.SMTPResponseException):
        message = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"{error.smtp_code} {message}"
    return str(error) or type(error).__name__


def transport() -> Outbox | SmtpServer:
    """How this run sends mail: MAIL_SERVER, or in demo runs without one the outbox; MailNotConfigured otherwise."""
    config = current_app.config
    if config["DEMO"]:  # a demo run with a server of its own sends from DEMO_FROM, with links to DEMO_BASE_URL
        return SmtpServer(config) if config["MAIL_SERVER"] else Outbox(Path(current_app.instance_path) / "outbox")
    missing = [name for name in ("MAIL_SERVER", "MAIL_FROM", "APP_BASE_URL") if not config[name]]
    if missing:
        raise MailNotConfigured(
            f"Mail is not set up: set {', '.join(missing)} (and MAIL_PORT, MAIL_USERNAME, MAIL_PASSWORD as your "
            "mail server needs), or FLOQAST_DEMO=1 to write the messages to instance/outbox/ instead."
        )
    return SmtpServer(config)
