"""Settings for payments and the composition root's wiring of the acquirers (in-process
simulators, or clients of the acquirer role)."""

from __future__ import annotations

import pytest
from paygate.internal.v1 import acquirer_pb2

from adapters.acquirers.grpc_client import GrpcAcquirer
from adapters.acquirers.kora_client import KoraConnector
from adapters.acquirers.orbit_client import OrbitConnector
from adapters.observability.metered import MeteredAcquirer
from core.payments.routing import PaymentFacts
from core.payments.zone import CardholderDataZone
from core.shared.secret import Secret
from servers.bootstrap.app import CARD_NETWORK, UPI_SWITCH, build_app
from servers.bootstrap.routing import routing_table
from servers.bootstrap.zone import by_wire_name
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


async def test_build_app_routes_cards_and_upi_through_the_zone_to_their_simulators() -> None:
    settings = Settings(web_base_url="https://pay.example", max_failed_attempts=2)
    # The engine connects lazily: nothing is opened here.
    app = build_app(settings, "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        router = app.payments._acquirers
        for method, acquirer in (("card", CARD_NETWORK), ("upi", UPI_SWITCH)):
            decision = router.route(PaymentFacts(method, "INR", 100, "acct_1", "visa"))
            assert decision is not None and decision.candidates[0] == acquirer
        zone = _unmetered(router.acquirer(CARD_NETWORK))
        # Embedded, the cardholder-data zone runs in this process around each connector.
        assert isinstance(zone, CardholderDataZone)
        network = zone.connector
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
        # Each measured (adapters/observability/metered.py) around the zone's connector.
        for name in (CARD_NETWORK, UPI_SWITCH):
            zone = _unmetered(router.acquirer(name))
            assert isinstance(zone, CardholderDataZone)
            assert isinstance(zone.connector, GrpcAcquirer)
        assert app.acquirers is not None and app.acquirers.hosted is None
    finally:
        await app.aclose()


async def test_build_app_reaches_the_vault_roles_zone_when_the_vault_is_split() -> None:
    settings = Settings(
        acquirer_target="127.0.0.1:1",
        vault_target="127.0.0.1:2",
        vault_service_token=Secret("s" * 40),
    )
    app = build_app(settings, "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        router = app.payments._acquirers
        # No zone here: card references go to the vault role, which detokenizes.
        assert isinstance(_unmetered(router.acquirer(CARD_NETWORK)), GrpcAcquirer)
        assert isinstance(_unmetered(router.acquirer(UPI_SWITCH)), GrpcAcquirer)
    finally:
        await app.aclose()


async def test_the_json_psps_are_routable_and_served_by_the_zone_under_their_wire_names() -> None:
    routing = '[{"method": "card", "routes": ["orbit", "kora", "card_network_simulator"]}]'
    settings = Settings(
        orbit_url="http://127.0.0.1:1", kora_url="http://127.0.0.1:1/kora", routing=routing
    )
    app = build_app(settings, "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        router = app.payments._acquirers
        decision = router.route(PaymentFacts("card", "EUR", 100, "acct_1", "visa"))
        assert decision is not None and decision.candidates == ("orbit", "kora", CARD_NETWORK)
        orbit, kora = _unmetered(router.acquirer("orbit")), _unmetered(router.acquirer("kora"))
        assert isinstance(orbit, CardholderDataZone) and isinstance(orbit.connector, OrbitConnector)
        assert isinstance(kora, CardholderDataZone) and isinstance(kora.connector, KoraConnector)
        assert app.acquirers is not None
        served = by_wire_name(app.acquirers)
        assert served[acquirer_pb2.ACQUIRER_ORBIT] is orbit
        assert served[acquirer_pb2.ACQUIRER_KORA] is kora
    finally:
        await app.aclose()


def _unmetered(acquirer: object) -> object:
    """The acquirer inside the metrics wrapper the composition root puts around each."""
    assert isinstance(acquirer, MeteredAcquirer)
    return acquirer.inner


@pytest.mark.parametrize(
    ("currency", "method", "candidates"),
    [
        ("EUR", "card", ("orbit", CARD_NETWORK)),
        ("GBP", "card", ("orbit", CARD_NETWORK)),
        ("ZAR", "card", ("kora", CARD_NETWORK)),
        ("USD", "card", (CARD_NETWORK, "orbit")),
        ("INR", "upi", (UPI_SWITCH,)),
    ],
)
def test_the_default_routing_sends_cards_to_the_local_acquirer_first(
    currency: str, method: str, candidates: tuple[str, ...]
) -> None:
    settings = Settings(orbit_url="http://127.0.0.1:1", kora_url="http://127.0.0.1:1/kora")
    for amount in (1, 100, 10_000_000):  # the costs keep the order at every amount
        decision = routing_table(settings).decide(
            PaymentFacts(method, currency, amount, "acct_1", "visa")
        )
        assert decision is not None and decision.candidates == candidates


def test_without_the_psps_the_default_routing_is_the_card_network_and_the_upi_switch() -> None:
    table = routing_table(Settings())
    assert table.acquirers() == {CARD_NETWORK, UPI_SWITCH}
    decision = table.decide(PaymentFacts("card", "EUR", 100, "acct_1", "visa"))
    assert decision is not None and decision.candidates == (CARD_NETWORK,)
