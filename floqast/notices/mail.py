"""Sending mail: over SMTP to MAIL_SERVER, or, in demo runs without one, as .eml files in instance/outbox/.

The standard library's smtplib and email.message: a cron command sends a few messages a run, and the Flask
mail extensions wrap the same smtplib without adding what this needs (telling a refused recipient, which
waits for the next run, from an unreachable server, which ends this one).

The headers that hold people's text (Subject, To) are built here, not by the email package: it parses a value
it is given, decoding any RFC 2047 encoded word in it, and Python before 3.11.10 writes a decoded line break back
out as a real one (CVE-2024-6923), so that a key named "=?utf-8?q?=0ABcc:...?=" would add headers and a body.
Here text is sent as it is only when it is printable ASCII that holds no "=?"; any other text is sent as encoded
words made from it. No name is ever read as an encoded word, by us or by the mail programs that receive it.
"""

import base64
import re
import secrets
import smtplib
import ssl
import textwrap
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from flask import current_app, render_template

from floqast.columns import utcnow

DEMO_FROM = "FloQast Open API <no-reply@floqast.test>"
DEMO_BASE_URL = "http://127.0.0.1:5000"
# Seconds to wait on the mail server for each step (connect, each command) before giving up this run.
SMTP_TIMEOUT = 30
# Headers we build (Subject, To) are written as built, never parsed and folded again by the email package.
POLICY = policy.default.clone(refold_source="none")
# Header lines are folded to at most this many characters (RFC 5322's recommendation).
HEADER_LINE = 78
# Characters no header holds, not even encoded: controls, lone surrogates, and every line break that
# str.splitlines() knows (U+2028 and U+2029 among them), which make the email package refuse the header.
NOT_IN_HEADERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Text a header shows as it is: printable ASCII.
PLAIN = re.compile("[\x20-\x7e]*")
# RFC 5322's specials, which a display name holds only in quotes: such a name is encoded instead.
SPECIALS = frozenset('()<>[]:;@\\,."')
# The UTF-8 bytes of text in one encoded word: "=?utf-8?b?" + 52 characters of base64 + "?=", 64 characters,
# which fits on a header's first line after its name.
ENCODED_WORD_BYTES = 39


class MailNotConfigured(RuntimeError):
    """Mail is to be sent, but the settings to send it are missing."""


class ServerUnavailable(Exception):
    """The mail server cannot be reached, or refuses TLS or our login: nothing more goes out this run."""


class MessageRefused(Exception):
    """The server refused one message (its recipient, say); others may still go."""


def base_url() -> str:
    """Where people open the site, without a trailing slash, for links in mail."""
    return (current_app.config["APP_BASE_URL"] or DEMO_BASE_URL).rstrip("/")


def header_text(text: str) -> str:
    """`text` as a header may hold it: each control character and line break a space, runs of spaces one space."""
    return " ".join(NOT_IN_HEADERS.sub(" ", text).split())


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words (UTF-8, base64), each of whole characters."""
    chunks, chunk, size = [], "", 0
    for char in text:
        width = len(char.encode())
        if size + width > ENCODED_WORD_BYTES:
            chunks.append(chunk)
            chunk, size = "", 0
        chunk, size = chunk + char, size + width
    chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode()}?=" for chunk in chunks if chunk]


def header_words(text: str, phrase: bool = False) -> list[str]:
    """The words of a header that shows `text`: its own words when it is printable ASCII without "=?" (and, for a
    display name, without specials) and each fits on a line; else encoded words, which every reader decodes to
    `text` and nothing more."""
    text = header_text(text)
    if PLAIN.fullmatch(text) and "=?" not in text and not (phrase and SPECIALS & set(text)):
        words = text.split(" ")
        if all(len(word) < HEADER_LINE - len("Subject: ") for word in words):
            return words
    return encoded_words(text)


def folded(name: str, words: list[str]) -> str:
    """A header's value: its words one space apart, a line folded before a word that would make it longer than
    HEADER_LINE (with the header's name on the first)."""
    lines, room = [""], HEADER_LINE - len(name) - len(": ")
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > room:
            lines.append(" ")  # the folding white space
            room = HEADER_LINE
        lines[-1] += (" " if lines[-1].strip() else "") + word
    return "\n".join(lines)


def recipient(name: str, email: str) -> str:
    """The To header's value for `name` at `email`; MessageRefused when `email` is no address mail can go to."""
    try:
        addr_spec = Address(addr_spec=email).addr_spec
    except (ValueError, HeaderParseError) as error:
        raise MessageRefused(f"{email!r} is not an address mail can be sent to") from error
    if not addr_spec.isascii():
        raise MessageRefused(f"{email!r} is not an address mail can be sent to: it is not ASCII")
    return folded("To", [*header_words(name, phrase=True), f"<{addr_spec}>"])


def compose(name: str, email: str, subject: str, paragraphs: list[str], link_text: str, url: str) -> EmailMessage:
    """A message to one person: the paragraphs and a link, as plain text with an HTML alternative."""
    message = EmailMessage(policy=POLICY)
    message["From"] = current_app.config["MAIL_FROM"] or DEMO_FROM
    message.set_raw("To", recipient(name, email))
    message.set_raw("Subject", folded("Subject", header_words(subject)))
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
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                smtplib.SMTPNotSupportedError) as error:  # the last: an address that needs SMTPUTF8, say
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
