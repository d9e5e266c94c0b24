"""Settings for payments and the composition root's wiring of the acquirers (in-process
simulators, or clients of the acquirer role)."""

from __future__ import annotations

from adapters.acquirers.grpc_client import GrpcAcquirer
from adapters.observability.metered import MeteredAcquirer
from core.shared.secret import Secret
from servers.bootstrap.app import CARD_NETWORK, UPI_SWITCH, build_app
from servers.runtime.settings import Settings


def test_payment_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PAYGATE_WEB_BASE_URL": "https://pay.example",
            "PAYGATE_SIMULATOR_LATENCY": "0.25",
            "PAYGATE_UPI_APPROVAL_DELAY": "0",
            "PAYGATE_MAX_FAILED_ATTEMPTS": "3",
        }
    )
    assert settings.web_base_url == "https://pay.example"
    assert (settings.simulator_latency, settings.upi_approval_delay) == (0.25, 0.0)
    assert settings.max_failed_attempts == 3


def test_the_web_base_url_follows_the_http_port_by_default() -> None:
    assert Settings.from_env({}).web_url == "http://127.0.0.1:8080"
    assert Settings.from_env({"PAYGATE_HTTP_PORT": "9000"}).web_url == ("http://127.0.0.1:9000")


async def test_build_app_routes_cards_and_upi_to_their_simulators() -> None:
    settings = Settings(web_base_url="https://pay.example", max_failed_attempts=2)
    # The engine connects lazily: nothing is opened here.
    app = build_app(settings, "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        router = app.payments._acquirers
        assert (router.route("card"), router.route("upi")) == (CARD_NETWORK, UPI_SWITCH)
        network = router.acquirer(CARD_NETWORK)
        assert network.challenge_url("pa_1") == "https://pay.example/3ds/pa_1"  # type: ignore[attr-defined]
        assert app.payments.policy.max_failed_attempts == 2
    finally:
        await app.aclose()


def test_acquirer_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PAYGATE_ACQUIRER_TARGET": "10.0.0.7:50059",
            "PAYGATE_ACQUIRER_PORT": "50159",
            "PAYGATE_ACQUIRER_SERVICE_TOKEN": "t" * 40,
            "PAYGATE_ACQUIRER_TIMEOUT": "2.5",
        }
    )
    assert (settings.acquirer_target, settings.acquirer_port) == ("10.0.0.7:50059", 50159)
    assert settings.acquirer_service_token == Secret("t" * 40)
    assert settings.acquirer_timeout == 2.5
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings().acquirer_target == ""  # in-process simulators by default


async def test_build_app_uses_the_acquirer_role_when_its_target_is_set() -> None:
    settings = Settings(acquirer_target="127.0.0.1:1")
    app = build_app(settings, "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        router = app.payments._acquirers
        # Each measured (adapters/observability/metered.py) around the role's client.
        for name in (CARD_NETWORK, UPI_SWITCH):
            acquirer = router.acquirer(name)
            assert isinstance(acquirer, MeteredAcquirer)
            assert isinstance(acquirer.inner, GrpcAcquirer)
        assert app.acquirers is not None and app.acquirers.hosted is None
    finally:
        await app.aclose()
