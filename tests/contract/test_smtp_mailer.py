"""The SMTP adapter against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.mail.smtp import SmtpMailer, SmtpSettings
from core.notifications.ports import MailRejected, OutgoingMessage
from core.shared.secret import Secret
from tests.e2e.conftest import free_port

MESSAGE = OutgoingMessage(
    recipient="shopper@example.test",
    subject="Your receipt from Test Bakery",
    text="Amount paid: €25.00\n",
    html="<p>Amount paid: <strong>€25.00</strong></p>",
    message_id="<evt_1.payment_receipt@paygate>",
)


class Server:
    def __init__(self) -> None:
        self.answer = "250 OK"
        self.received: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer.startswith("250"):
            self.received.append(envelope)
        return self.answer


@pytest.fixture
def smtp() -> Iterator[tuple[Server, int]]:
    handler, port = Server(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


async def test_a_message_arrives_as_text_and_html(smtp: tuple[Server, int]) -> None:
    server, port = smtp
    mailer = SmtpMailer(SmtpSettings("127.0.0.1", port, sender="Bakery <r@bakery.test>"))
    await mailer.send(MESSAGE)
    [envelope] = server.received
    assert envelope.rcpt_tos == ["shopper@example.test"]
    parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert parsed["Message-ID"] == MESSAGE.message_id
    assert parsed["From"] == "Bakery <r@bakery.test>"
    assert parsed.get_content_type() == "multipart/alternative"
    assert "€25.00" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<strong>" in parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(("answer", "permanent"), [("550 No such user", True),
                                                   ("451 Try again later", False)])  # fmt: skip
async def test_a_refusal_says_whether_to_try_again(
    smtp: tuple[Server, int], answer: str, permanent: bool
) -> None:
    server, port = smtp
    server.answer = answer
    with pytest.raises(MailRejected) as refused:
        await SmtpMailer(SmtpSettings("127.0.0.1", port)).send(MESSAGE)
    assert refused.value.permanent is permanent
    assert "No such user" not in str(refused.value)  # the server's text is not kept


async def test_an_unreachable_server_is_worth_another_try() -> None:
    with pytest.raises(MailRejected) as refused:
        await SmtpMailer(SmtpSettings("127.0.0.1", free_port(), timeout=2)).send(MESSAGE)
    assert refused.value.permanent is False


def test_the_settings_never_show_the_password() -> None:
    settings = SmtpSettings("127.0.0.1", 25, username="u", password=Secret("hunter2-smtp"))
    assert "hunter2-smtp" not in repr(settings) + str(settings)
