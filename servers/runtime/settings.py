"""Typed settings, read once from the environment by the composition root."""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.shared.secret import Secret

_NO_SECRET = Secret("")  # immutable: safe to share as a dataclass default


@dataclass(frozen=True)
class Settings:
    # postgresql+asyncpg://...; empty means the embedded PostgreSQL under data_dir/pg.
    database_url: str = ""
    # redis://...; empty means the in-process cache and rate limiter.
    redis_url: str = ""
    data_dir: Path = Path("var")
    http_port: int = 8080
    grpc_port: int = 50051
    envoy_admin_port: int = 9901
    api_processes: int = 2
    # API process i listens on 127.0.0.1:(api_base_port + i); only Envoy talks to them.
    api_base_port: int = 50061
    # The worker answers gRPC health checks here (loopback only).
    worker_port: int = 50060
    # `paygate up`: how many worker processes share the batch jobs and the webhook
    # deliveries (each claims with FOR UPDATE SKIP LOCKED). The first listens on
    # worker_port, the others after the API processes' ports (api_base_port +
    # api_processes, ...).
    worker_processes: int = 1
    log_level: str = "INFO"
    db_pool_size: int = 10
    # Seconds one SQL statement may wait for PostgreSQL before the call fails UNAVAILABLE
    # (a server that stopped answering without closing the connection).
    db_command_timeout: float = 30.0
    # Key of the HMAC that fingerprints requests under an Idempotency-Key (16+ bytes, the
    # same on every API process). Empty: a development key (docs/idempotency.md).
    idempotency_hash_key: str = ""
    # PKCS#8 PEM of the Ed25519 key that signs access tokens; every API process needs the
    # same one. Empty: a key kept under data_dir/secrets/ (the embedded mode).
    jwt_signing_key: str = ""
    jwt_issuer: str = "paygate"
    jwt_audience: str = "paygate-api"
    # Peers whose X-Forwarded-For is believed (Envoy): see servers/grpc/client_address.py.
    trusted_proxies: str = "127.0.0.1/32,::1/128"

    # --- the vault (docs/vault.md) ------------------------------------------------------
    # host:port of the vault role (`paygate serve --role vault`); empty = the vault runs
    # inside this process (embedded mode).
    vault_target: str = ""
    # The vault's own database (split mode); empty = database_url. Only the vault role
    # (or an embedded process) opens it.
    vault_database_url: str = ""
    # The credential the payments core / API role presents to the vault role, and the
    # vault role requires. Both sides need it in split mode; unused in embedded mode.
    vault_service_token: Secret = _NO_SECRET
    # Accepted too while the credential is being rotated (vault side only).
    vault_service_token_previous: Secret = _NO_SECRET
    # Deadline, in seconds, of each call to the vault role (split mode): tokenization,
    # card profiles, payment methods. The zone's calls to the connectors through the vault
    # role have the acquirer's bounds (acquirer_timeout).
    vault_timeout: float = 5.0
    # The KEK: file:PATH, env:NAME or xor:SPEC,SPEC (adapters/crypto/kek.py). Empty = a
    # development KEK generated under data_dir/vault/ on first start (with a warning).
    vault_kek: str = ""
    # Older KEKs that still unwrap data keys until `paygate vault rotate` has re-wrapped
    # them, separated by ";" (a spec may itself contain commas: xor:...).
    vault_previous_keks: tuple[str, ...] = ()
    # The fingerprint HMAC key, as a key spec; empty = a development key under data_dir.
    vault_fingerprint_key: str = ""
    # Data key rotation: a data key stops encrypting after this age or this many uses.
    vault_key_max_age_days: int = 90
    vault_key_max_encryptions: int = 1_000_000
    # Where CVCs wait for their authorization: "memory" or "redis" (sealed, with a TTL).
    # Empty = redis when redis_url is set (several vault replicas), else memory.
    vault_cvc_store: str = ""
    # Rows per transaction of the rotation job and the expiry sweep.
    vault_batch_size: int = 200
    # TLS on the vault channel (PEM file paths). Vault role: its certificate and key, and
    # vault_tls_ca = the CA that callers' certificates must chain to (mutual TLS). Callers:
    # vault_tls_ca = the CA of the vault's certificate, plus their client certificate.
    vault_tls_cert: str = ""
    vault_tls_key: str = ""
    vault_tls_ca: str = ""
    vault_tls_client_cert: str = ""
    vault_tls_client_key: str = ""
    # `paygate up` (docs/operations.md#the-cardholder-data-zone-in-its-own-process): 1 runs
    # the vault role (the cardholder-data zone: the vault and the connectors) as a process
    # of its own on 127.0.0.1:vault_port, and points every other child at it
    # (vault_target); 0 = the zone inside each process (embedded). Ignored when
    # vault_target already names a vault role.
    vault_processes: int = 0
    vault_port: int = 50070
    # Where that vault role serves POST /v1/tokens for Envoy (vault_public_listen and
    # envoy_vault_upstream); 0 = the tokens go through the API processes.
    vault_tokens_port: int = 50071
    # Vault role: host:port where it serves the public paygate.v1.TokenService (POST
    # /v1/tokens) for Envoy, behind the API's own authentication, rate limits and
    # idempotency (it then needs DATABASE_URL: the access tables). Empty: none, tokens
    # go through the API processes.
    vault_public_listen: str = ""

    # Where the web role serves its pages; the 3-D Secure challenge is {web_url}/3ds/pa_...
    # Empty: Envoy's REST listener on this machine (http://127.0.0.1:<http_port>).
    web_base_url: str = ""
    # Seconds every simulated acquirer call takes (0: instant).
    simulator_latency: float = 0.0
    # Seconds before the UPI switch settles a collect to success@upi / failure@upi.
    upi_approval_delay: float = 2.0
    # Failed attempts an intent allows before confirm answers ATTEMPTS_EXHAUSTED.
    max_failed_attempts: int = 5
    # How long an attempt or refund may stay in flight before the worker asks the acquirer
    # again; it must exceed any acquirer call (docs/payments.md).
    recovery_after_seconds: int = 300

    # FX rates older than this are not used (FX_RATE_UNAVAILABLE): load a fresh rates file
    # daily with `paygate fx load`.
    fx_max_age_hours: int = 36

    # --- the acquirer role (docs/operations.md) -----------------------------------------
    # host:port of the acquirer role (`paygate serve --role acquirer`: the simulated card
    # network and UPI switch as one process); empty = the simulators run inside this
    # process. `paygate up` starts the role and sets this for its children.
    acquirer_target: str = ""
    # Where `paygate up` runs the acquirer role (loopback only).
    acquirer_port: int = 50059
    # The credential callers present to the acquirer role, and the role requires when set.
    # Empty: `paygate up` makes a random one for its children; a role started by hand
    # without it accepts any caller that reaches its port.
    acquirer_service_token: Secret = _NO_SECRET
    # Deadline, in seconds, of each call to the acquirer role. A call that changes
    # something and gets no answer in time is "outcome unknown" (asked again later).
    acquirer_timeout: float = 10.0

    # --- connectors and routing (docs/connectors.md) -------------------------------------
    # The routing table, JSON: a list of rules {name, method, network, currency, merchant,
    # min_amount, max_amount, routes: [acquirer | {acquirer, cost: {fixed, basis_points}}]}.
    # Empty: the default table (servers/bootstrap/routing.py): European currencies to
    # Orbit, African ones to Kora, the rest to the card network, each failing over; upi,
    # wallet and netbanking to their one connector.
    routing: str = ""
    # The JSON PSP "orbit" (sandbox/psp, `paygate serve --role psp`): its base URL on
    # loopback; empty = not configured (no route may name it, the default table leaves
    # it out). `paygate up` starts the PSP role and sets both when both are empty.
    orbit_url: str = ""
    # The JSON PSP "kora" (Paystack-style, the PSP role's `/kora`): its base URL.
    kora_url: str = ""
    # Where `paygate up` runs the PSP role (loopback only); 0: no PSP role.
    psp_port: int = 50056
    # The wallet aggregator (the PSP role's `/wallet`) and the net banking gateway (its
    # `/netbanking`): their base URLs; empty = wallet / netbanking payments have no route.
    wallet_url: str = ""
    netbanking_url: str = ""
    # The PSP role's wallet and bank pages: seconds a payment waits for the payer before
    # it expires, and how late a late-confirming bank or wallet account confirms.
    redirect_expiry: float = 600.0
    redirect_late_delay: float = 20.0
    # The circuit breaker of each connector: opens when at least `breaker_error_rate` of
    # the last `breaker_window` calls failed (with `breaker_min_calls` of them at least),
    # lets one probe through after `breaker_cooldown` seconds.
    breaker_window: int = 50
    breaker_min_calls: int = 20
    breaker_error_rate: float = 0.5
    breaker_cooldown: float = 30.0

    # --- the web role and watches (docs/operations.md) --------------------------------------
    # The web role (`paygate serve --role web`: the 3-D Secure page) listens on
    # 127.0.0.1:<web_port>; Envoy routes /3ds/ to it. 0: no web process, the API
    # processes serve the pages themselves.
    web_port: int = 50058
    # `paygate up`: how many web processes Envoy balances the pages across; the first on
    # web_port, the others after the extra workers' ports.
    web_processes: int = 1
    # Where `paygate up` runs the demo merchant (a shop's page taking a payment with
    # checkout.js, servers/roles/web/demo.py) on 127.0.0.1; 0: none.
    demo_port: int = 4242
    # The Stripe-compatible surface (`paygate serve --role stripe`, servers/stripe/) on
    # 127.0.0.1:<stripe_port>; Envoy routes /stripe/ to it. 0: none (/stripe/ is 404).
    stripe_port: int = 50057
    # The longest a WatchPaymentIntent stream runs before it ends (final message
    # MAX_DURATION) and the client watches again.
    watch_max_seconds: float = 600.0

    # --- events and webhooks (docs/events.md) ----------------------------------------------
    # Seconds before each delivery attempt, the first one included, comma separated:
    # immediately, then about 3 days of back-off (each delay +-10% jitter).
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000,36000,36000,36000,36000"
    # Seconds a webhook request may take before it counts as failed.
    webhook_timeout: float = 10.0
    # A delivery's claim outlives its request by this much; after it, a killed worker's
    # claim passes to another worker.
    webhook_lease_margin_seconds: float = 20.0
    # Requests in flight to one endpoint at once, across every worker.
    webhook_endpoint_concurrency: int = 10
    # Requests in flight per worker process.
    webhook_max_in_flight: int = 200
    # An endpoint failing without a success for this long is disabled (5 days).
    webhook_disable_after_seconds: int = 432000
    # CIDRs webhooks may reach despite the SSRF policy (e.g. 127.0.0.1/32 on a laptop),
    # comma separated. Empty: only public addresses.
    webhook_allowed_networks: str = ""
    # The key that seals webhook signing secrets at rest; empty: a development key.
    webhook_secret_key: Secret = _NO_SECRET
    # How often `paygate listen`'s stream looks for new events.
    listen_poll_seconds: float = 0.25

    # --- metrics, traces and probes (docs/operations.md) ----------------------------------
    # This process's HTTP port for /metrics, /readyz and /livez; 0: none. `paygate up`
    # gives each child its own (metrics_base_port).
    metrics_port: int = 0
    # Where that port listens: loopback on one machine, 0.0.0.0 in a pod.
    metrics_host: str = "127.0.0.1"
    # `paygate up`: API process i gets metrics_base_port + i, then the first worker, the
    # first web process and the stripe process (+n, +n+1, +n+2), then the other workers
    # and the other web processes; 0: no metrics ports.
    metrics_base_port: int = 9100
    # host:port of an OTLP/gRPC collector (Jaeger, Tempo, the OpenTelemetry Collector);
    # empty: tracing off, at no cost. Envoy sends its spans there too.
    otlp_endpoint: str = ""
    # A directory where every process writes its spans as JSON lines (<role>-<pid>.jsonl),
    # beside or instead of the collector: for tests and for a look without a collector.
    # Empty: none.
    spans_dir: str = ""

    # --- Envoy beyond one machine (deploy/kubernetes) -----------------------------------------
    # host:port Envoy (and the stripe role, which calls the API too) resolves for the API
    # processes (a headless Service: every pod one endpoint); empty: the local API
    # processes of `paygate up`.
    envoy_api_upstream: str = ""
    # The same for the web role; empty: the local web process (or the API processes).
    envoy_web_upstream: str = ""
    # The same for the stripe role; empty: the local stripe process on stripe_port.
    envoy_stripe_upstream: str = ""
    # host:port of the vault role's token listener (vault_public_listen): Envoy then routes
    # paygate.v1.TokenService there, over REST, gRPC and gRPC-Web, so a card number never
    # passes through an API process. Empty: tokens go to the API processes.
    envoy_vault_upstream: str = ""
    # A listener on 0.0.0.0 serving only Envoy's /stats/prometheus and /ready (for
    # Prometheus and the kubelet), so that the admin port stays on loopback; 0: none.
    envoy_stats_port: int = 0
    # Tests only: Envoy's fault filter on the REST listener, driven by the caller's
    # x-envoy-fault-* headers (an injected abort, delay or slow response). Never set in
    # production: any client could then fail its own requests, or slow Envoy's replies.
    envoy_fault_injection: bool = False
    # Load shedding at the edge: calls per second of a rate-limit class that Envoy lets
    # through to the API processes, for all merchants together ("payments_create=150,
    # default=400"); beyond it Envoy answers RESOURCE_EXHAUSTED (429) itself, as the API
    # does for a merchant's own limit. Size it below the measured capacity of the API
    # processes behind this Envoy (docs/operations.md, "Load shedding at the edge").
    # Empty: off.
    envoy_max_rps: str = ""

    # --- email: receipts and alerts (docs/operations.md, "Email") ------------------------
    # The SMTP server the worker hands receipts and alerts to; empty: no email is sent.
    smtp_host: str = ""
    # 587 (STARTTLS when offered), 465 (implicit TLS) or 25.
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: Secret = _NO_SECRET
    smtp_from: str = "paygate <receipts@localhost>"
    # The locale amounts and dates are written in (babel), e.g. en_US, de_DE, hi_IN.
    mail_locale: str = "en_US"

    # --- the edge: TLS at Envoy (docs/operations.md, "TLS") ------------------------------
    # PEM certificate chain and private key of Envoy's listeners; both empty: plain HTTP
    # and h2c (a laptop). `paygate tls selfsigned` writes a pair for 127.0.0.1/localhost.
    tls_cert_file: str = ""
    tls_key_file: str = ""

    # --- risk (docs/risk.md) ----------------------------------------------------------------
    # The risk rules file (versioned YAML), read at start; a mistake stops the start with
    # its line. Empty: the default rules shipped in core/risk/default_rules.yaml.
    risk_rules_file: str = ""
    # A CSV of `network,country` lines for the shopper's IP country; empty: unknown.
    risk_ip_countries_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Each field from its variable (env_name); an unset or empty one keeps the default."""
        env = os.environ if env is None else env
        hints = typing.get_type_hints(cls)
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(env_name(field.name), "")
            if raw:
                values[field.name] = _parse(hints[field.name], raw)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def tls(self) -> bool:
        """Envoy's listeners serve TLS (a certificate is configured)."""
        return bool(self.tls_cert_file or self.tls_key_file)

    @property
    def rest_url(self) -> str:
        """Envoy's REST listener on this machine."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.http_port}"

    @property
    def web_url(self) -> str:
        return self.web_base_url or self.rest_url

    def to_env(self) -> dict[str, str]:
        """The environment that makes from_env() in a child process return these settings."""
        return {
            env_name(field.name): _render(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


# Variables whose names are conventions of their own; every other field is PAYGATE_<FIELD>.
_ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
    "vault_database_url": "VAULT_DATABASE_URL",
}


def env_name(field: str) -> str:
    return _ENV_NAMES.get(field, f"PAYGATE_{field.upper()}")


def _parse(kind: object, raw: str) -> object:
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind is Path:
        return Path(raw)
    if kind is Secret:
        return Secret(raw)
    if kind == tuple[str, ...]:
        # ";" because a key spec may itself contain commas (xor:...).
        return tuple(part.strip() for part in raw.split(";") if part.strip())
    return raw


def _render(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, tuple):
        return ";".join(value)
    return str(value)
