"""The Mailer port over SMTP (aiosmtplib): one connection per batch of sends is not worth
its bookkeeping at receipt volumes, so each message opens its own (with STARTTLS when the
server offers it, or implicit TLS on port 465)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from core.notifications.ports import MailRejected, OutgoingMessage
from core.shared.secret import Secret

log = logging.getLogger("paygate.mail")
_NO_PASSWORD = Secret("")  # immutable: safe to share as a dataclass default


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str = ""
    password: Secret = _NO_PASSWORD
    sender: str = "paygate <receipts@localhost>"
    timeout: float = 10.0

    def __repr__(self) -> str:  # the password is a Secret: redacted anyway; no user either
        return f"SmtpSettings(host={self.host!r}, port={self.port}, sender={self.sender!r})"


def build_message(sender: str, message: OutgoingMessage) -> EmailMessage:
    """A multipart/alternative email: the plain text, and the HTML for clients that show it."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = message.message_id
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, message: OutgoingMessage) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                build_message(s.sender, message),
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password.reveal() or None,
                use_tls=s.port == 465,
                start_tls=None if s.port != 465 else False,
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise MailRejected("the mail server refused the recipient", permanent=True) from error
        except aiosmtplib.SMTPResponseException as error:
            # 5xx is final, 4xx is worth another try later. The server's text is kept out:
            # it may quote the recipient back.
            raise MailRejected(
                f"the mail server answered {error.code}", permanent=500 <= error.code < 600
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailRejected(f"mail server unreachable: {type(error).__name__}") from error
