"""The merchant dashboard in headless Chromium, against the real gateway.

A gateway of its own (its own database and rate-limit store: the story signs up two
users from the browser's one address) serves /dashboard through Envoy. Debian's
`chromium`, driven by playwright-core from npm, runs tests/e2e/browser/dashboard_flows.mjs:
an owner signs up, makes an API key, pays with it over plain HTTP, refunds the payment from
its page and watches the balance change, invites a STAFF colleague (revoking a first
invitation), revokes the key, and switches to live mode and back; the colleague finds the
revoked link refused, joins with the other, sees no refund button, and the API refuses the
refund anyway; the owner then finds no invitation pending. The tests
here check that report and what the server says. Screenshots of every page are kept under
var/artifacts/dashboard/ (not committed).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser_run import fresh_artifacts, run_script
from tests.e2e.conftest import fresh_database, running_gateway
from tests.e2e.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "e2e" / "browser" / "dashboard_flows.mjs"
ARTIFACTS = ROOT / "var" / "artifacts" / "dashboard"
RUN_TIMEOUT = 300
PASSWORD = "correct horse battery staple"
# What the story screenshots (var/artifacts/dashboard/<who>-<n>-<page>.png).
PAGES = (
    "signup", "overview", "settings", "api-key-created", "payments", "payment-detail",
    "balance-after", "settlements", "payouts", "disputes", "webhook-created", "webhook-retried",
    "docs", "team-invited", "live-payments", "live-key-created", "live-balance", "test-mode-again",
    "signed-out", "revoked-link-refused", "joined", "payment-no-refund", "team-after-join",
)  # fmt: skip


@pytest.fixture(scope="module")
async def dashboard_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_dashboard") as url:
        yield url


@pytest.fixture(scope="module")
def dashboard_gateway(dashboard_database_url: str) -> Iterator[Gateway]:
    # The story's webhook receiver listens on loopback, which webhooks may otherwise
    # never reach.
    with running_gateway(dashboard_database_url, webhook_allowed_networks="127.0.0.1/32") as gw:
        yield gw


class Receiver(BaseHTTPRequestHandler):
    """The merchant's webhook endpoint: 500 until GET /ok, then 200; counts deliveries."""

    healthy = False
    hits = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).hits += 1
        self.send_response(200 if type(self).healthy else 500)
        self.end_headers()

    def do_GET(self) -> None:
        type(self).healthy = True
        body = json.dumps({"hits": type(self).hits}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(scope="module")
async def story(
    dashboard_gateway: Gateway, receiver: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    """Runs the whole story in Chromium; returns its report."""
    tag = secrets.token_hex(4)
    config = {
        "baseUrl": dashboard_gateway.rest_url,
        "receiverUrl": receiver,
        "owner": {
            "email": f"owner-{tag}@example.com",
            "password": PASSWORD,
            "business": f"Owner Shop {tag}",
        },
        "staff": {
            "email": f"staff-{tag}@example.com",
            "password": PASSWORD,
            "business": f"Staff Co {tag}",
        },
    }
    report = await run_script(
        FLOWS, config, fresh_artifacts(ARTIFACTS), request, what="dashboard", seconds=RUN_TIMEOUT
    )
    assert report["ok"], f"{report.get('error')} (at {report.get('url')})"
    report["gateway"] = dashboard_gateway
    return report


def steps(report: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = report["steps"]
    return found


def test_an_owner_signs_up_into_test_mode_and_sees_a_payment_made_through_the_api(
    story: dict[str, Any],
) -> None:
    seen = steps(story)
    assert seen["testModeBanner"].startswith("Test mode")
    assert seen["payment"]["status"] == "SUCCEEDED"
    assert seen["keyWorks"] == 200
    assert seen["overviewVolume"] == "€25.00"  # the analytics API's, for EUR
    assert seen["overviewSuccessRate"] == "100.0 %"
    assert "Complete your business profile" in seen["checklist"]
    assert seen["filteredEmpty"] is True


def test_a_refund_from_the_payment_page_refunds_it_and_changes_the_balance(
    story: dict[str, Any],
) -> None:
    seen = steps(story)
    assert seen["refunded"] == "€25.00"
    assert "Refund created" in seen["timeline"] and "Payment succeeded" in seen["timeline"]
    assert seen["overviewNetAfterRefund"].startswith("-€")  # the fee is kept
    assert (seen["balanceBefore"], seen["availableBefore"]) != (
        seen["balanceAfter"],
        seen["availableAfter"],
    )


def test_the_business_profile_is_saved_and_audited(story: dict[str, Any]) -> None:
    assert "account.profile_update" in steps(story)["auditActions"]


def test_webhooks_are_logged_and_a_failed_one_is_delivered_on_retry(
    story: dict[str, Any],
) -> None:
    seen = steps(story)
    assert seen["webhookSecretPrefix"] == "whsec_"
    assert seen["receiverHits"] >= 1  # the payment's events reached the receiver, refused
    assert seen["deliveredAfterRetry"] is True


def test_a_revoked_key_is_refused_at_once(story: dict[str, Any]) -> None:
    assert steps(story)["keyStatusesBeforeRevoke"] == [200] * 6  # cached by each process
    assert steps(story)["revokedKeyStatuses"] == [401] * 6  # refused by each


def test_staff_sees_no_refund_button_and_the_api_refuses_the_refund_anyway(
    story: dict[str, Any],
) -> None:
    seen = steps(story)
    assert seen["staffRole"] == "Role: STAFF"
    assert seen["staffAccounts"] == 2  # their own and the one they joined
    assert seen["staffRefundButtons"] == 0 and seen["staffCancelButtons"] == 0
    assert "API keys" not in seen["staffNav"] and "Webhooks" not in seen["staffNav"]
    assert seen["staffRefundStatus"] == 403
    assert seen["staffRefundReason"] == "MISSING_PERMISSION"


def test_invitations_are_pending_until_accepted_and_a_revoked_link_is_refused(
    story: dict[str, Any],
) -> None:
    seen = steps(story)
    assert "staff-" in seen["pendingBefore"] and "STAFF" in seen["pendingBefore"]
    assert "invtok_" not in seen["pendingBefore"]  # the list never shows a link's secret
    assert "does not work" in seen["revokedLinkRefused"]
    assert seen["pendingAfter"].startswith("No pending invitations")
    assert "staff-" in seen["membersAfter"]


def test_live_mode_shows_live_data_only_and_makes_live_keys(story: dict[str, Any]) -> None:
    seen = steps(story)
    assert seen["liveBanners"] == 0 and "live" in seen["liveShell"].split()
    assert seen["livePayments"].startswith("No live payments yet")
    assert seen["liveKeyPrefix"] == "sk_live_"
    assert seen["liveKeyReadsTestPayment"] == 404
    # Live money is its own: the live balance page shows the live payment's net only.
    assert seen["livePayment"] == "SUCCEEDED"
    assert seen["livePending"] not in (seen["balanceBefore"], seen["balanceAfter"])
    live_pending = seen["liveKeyBalance"]["pending"]
    assert len(live_pending) == 1 and int(live_pending[0]["amount"]) > 0, live_pending
    assert seen["testBannerAgain"].startswith("Test mode")


def test_the_guides_sample_runs_with_the_merchants_own_test_key(story: dict[str, Any]) -> None:
    sample: str = steps(story)["guideSample"]
    assert "sk_test_" in sample and "YOUR_SECRET_KEY" not in sample
    gateway: Gateway = story["gateway"]
    assert sample.startswith(f"curl -s '{gateway.rest_url}/v1/payment_intents'")
    run = subprocess.run(["sh", "-c", sample], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    intent = json.loads(run.stdout)
    assert intent["id"].startswith("pi_") and intent["amount"] == "2500"
    assert intent["checkout_url"].startswith(f"{gateway.rest_url}/checkout/")
    redirect = subprocess.run(
        ["sh", "-c", steps(story)["guideRedirectSample"]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert redirect.returncode == 0, redirect.stderr
    assert redirect.stdout.startswith(f"Location: {gateway.rest_url}/checkout/pi_")


def test_the_api_reference_is_rendered_from_openapi(story: dict[str, Any]) -> None:
    assert steps(story)["referenceRefunds"] >= 3  # create, get, list


def test_every_page_has_a_screenshot_and_the_console_stayed_clean(story: dict[str, Any]) -> None:
    names = {path.stem for path in ARTIFACTS.glob("*.png")}
    for page in PAGES:
        assert any(page in name for name in names), f"no screenshot of {page}: {sorted(names)}"
    assert any(name.startswith("staff-") for name in names)
    assert story["console"] == []
    assert steps(story)["signedOut"] is True
