"""The service's settings: one object, read once at start-up, passed down."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from croniter import CroniterBadDateError, croniter
from pydantic import Field, HttpUrl, SecretStr, TypeAdapter, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from producersync.database_url import CONNECT_TIMEOUT_SECONDS, checked
from producersync.executor_settings import EXECUTOR_LOCK_WAIT_SECONDS, ExecutorLockWaitSetting
from producersync.head_settings import HEAD_TIMEOUT_SECONDS, HeadTimeoutSetting
from producersync.log_settings import LogFormatSetting, LogLevelSetting
from producersync.masked_settings import MaskedSettings
from producersync.shutdown_settings import SHUTDOWN_GRACE_SECONDS, ShutdownGraceSetting
from producersync.url_userinfo import masked

__all__ = ["ServiceSettings"]

# A duration is added to the present (a token's expiry, a link's, a secret's grace): one
# past about a century would overflow a datetime where it is first used (a traceback on
# the first portal link), and inf or nan is no duration at all.
_LONGEST_SECONDS = 100 * 365 * 86400
Seconds = Annotated[float, Field(allow_inf_nan=False, le=_LONGEST_SECONDS)]

# HS256 wants a key of the hash's size at least (RFC 7518, 3.2): a short one, a word an
# operator typed, taken as it is, would let any token, cursors too, be forged offline from
# one token the API issued.
_SHORTEST_KEY_BYTES = 32

# A rate limit is a budget one client can spend: past a million a minute (16,000 a
# second, more than a process serves) none is, and 300000000 for 300 went out in every
# ratelimit-limit header and held as many members in a client's Redis window.
_MOST_PER_MINUTE = 1_000_000
_PerMinute = Annotated[int, Field(ge=1, le=_MOST_PER_MINUTE)]


class ServiceSettings(MaskedSettings):
    """Every knob of the ProducerSync service (environment prefix ``PRODUCERSYNC_``)."""

    # Inputs stay out of a ValidationError's text: they may be secrets or URLs with
    # passwords (the CLI names a refused value itself, masked: cli/common.py).
    model_config = SettingsConfigDict(
        env_prefix="PRODUCERSYNC_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(
        default="sqlite:///producersync.db",
        description="SQLAlchemy URL of the store: sqlite:///file.db or postgresql+psycopg://... "
        f"(a connection attempt gives up after {CONNECT_TIMEOUT_SECONDS} s unless the URL sets "
        "?connect_timeout=N).",
    )
    database_pool_size: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="PostgreSQL connections this process's store pool keeps open, opening "
        "up to twice as many more under load; DBOS's system database then gets a pool of "
        "twice as many. Size it so that every process fits the server's max_connections "
        "(default: 10 and 20 more for the store, 20 for DBOS).",
    )
    # Empty is refused: uvicorn binds it to every interface.
    host: str = Field(
        default="127.0.0.1", min_length=1, description="Interface the process listens on."
    )
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port the process listens on.")
    log_level: LogLevelSetting = "info"
    log_format: LogFormatSetting = "text"
    access_log: bool = Field(
        default=False,
        description="Log a line for each request answered: method, path (without the "
        "query), status, time taken, the API client of a good token and request id. Off, "
        "a request's id is in the lines logged while it was handled alone (a 500's "
        "traceback).",
    )
    head_timeout_seconds: HeadTimeoutSetting = HEAD_TIMEOUT_SECONDS
    shutdown_grace_seconds: ShutdownGraceSetting = SHUTDOWN_GRACE_SECONDS
    public_url: str | None = Field(
        default=None,
        description="Base URL used in HAL links and portal login links; default: the URL "
        "the request came in on. A path in it is the prefix a proxy serves the service "
        "under, stripped before a request reaches it.",
    )
    token_ttl_seconds: int = Field(
        default=3600,
        ge=60,
        le=_LONGEST_SECONDS,
        description="Lifetime of an access token (expires_in).",
    )
    token_signing_key: SecretStr | None = Field(
        default=None,
        description=f"HMAC key for access tokens, {_SHORTEST_KEY_BYTES} bytes at least; "
        "default: generated once, kept in the store.",
    )
    api_rate_limit_per_minute: _PerMinute = Field(
        default=300,
        description="API requests per rolling minute per OAuth client (1 to 1,000,000).",
    )
    token_rate_limit_per_minute: _PerMinute = Field(
        default=200, description="Token requests per rolling minute per client id (1 to 1,000,000)."
    )
    token_failure_limit_per_minute: _PerMinute = Field(
        default=30,
        description="Failed client authentications per rolling minute per client address "
        "(1 to 1,000,000); past them the token endpoint answers that address 429, right "
        "credentials included (behind a proxy, FORWARDED_ALLOW_IPS names it, or every "
        "client shares its address).",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where rate limits are counted: memory:// (one process) or a redis:// "
        "URL (shared by every process pointing at it, by Redis's clock).",
    )
    job_poll_seconds: Seconds = Field(
        default=0.5,
        gt=0,
        description="How often a process looks for subscription jobs queued by another "
        "(its own are taken at once).",
    )
    max_subscription_npns: int = Field(
        default=50_000, ge=1, description="Most NPNs one subscription request may carry."
    )
    chaos_latency_ms: float = Field(
        default=0,
        ge=0,
        allow_inf_nan=False,
        description="Chaos: milliseconds added to every /v1 and /v2 response (0: none).",
    )
    chaos_fault_rate: float = Field(
        default=0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Chaos: fraction of admitted /v1 and /v2 requests answered with a fault "
        "instead (a 500, a 429 or a dropped connection, equally likely; 0: none).",
    )
    chaos_seed: int | None = Field(
        default=None,
        description="Chaos: seed of the fault draws, for reproducible runs; default: random.",
    )
    nipr_schedule: str | None = Field(
        default=None,
        description="Cron (UTC; 5 fields, or 6 with seconds first) of the daily NIPR run, "
        "e.g. '0 6 * * *', run by the processes that deliver (a `service run --no-delivery` "
        "ignores it); default: none (run `producersync nipr run`).",
    )
    # Not NaN, refused as such: le alone would refuse it as "should be less than or equal
    # to 1", which it is not.
    nipr_churn_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Share of producers a scheduled run changes.",
    )
    nipr_feed_max_bytes: int = Field(
        default=256 * 2**20,
        ge=1,
        description="Largest feed file `nipr run --feed` reads, in bytes (256 MiB); a larger "
        "one is refused unread. Checking it takes about 5 times its size in memory.",
    )
    nipr_feed_max_line_bytes: int = Field(
        default=2**20,
        ge=1,
        description="Longest line of a feed file, in bytes, without its line ending (1 MiB).",
    )
    delivery_enabled: bool = Field(
        default=True,
        description="Run the webhook dispatcher in this process (DBOS workflows that sign, "
        "send and retry deliveries). Off: this process only serves the API.",
    )
    executor_id: str | None = Field(
        default=None,
        description="This process's DBOS executor id (what it recovers after a crash); "
        "default: <hostname>:<port>.",
    )
    executor_lock_wait_seconds: ExecutorLockWaitSetting = EXECUTOR_LOCK_WAIT_SECONDS
    dbos_system_database_url: str | None = Field(
        default=None,
        description="DBOS system database; default: beside a SQLite store "
        "(<store>.dbos.sqlite), or the store's own Postgres database.",
    )
    allow_private_endpoints: bool = Field(
        default=False,
        description="Accept webhook endpoint URLs over plain http and on private, loopback "
        "or link-local addresses (local development and tests only).",
    )
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000],
        description="Seconds before each retry after the immediate first attempt "
        "(default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).",
    )
    webhook_retry_jitter: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Each retry delay is varied by up to this share.",
    )
    webhook_retry_after_cap_seconds: Seconds = Field(
        default=3600, gt=0, description="Longest Retry-After (on 429, 502, 503 or 504) honoured."
    )
    webhook_retry_overload_seconds: Seconds = Field(
        default=60,
        ge=0,
        description="Shortest wait before retrying an attempt that timed out or was "
        "answered 429 (before the jitter), as in Svix.",
    )
    webhook_timeout_seconds: Seconds = Field(
        default=5, gt=0, description="An attempt that has no response within this fails."
    )
    webhook_disable_after_seconds: Seconds = Field(
        default=5 * 86400,
        gt=0,
        description="An endpoint whose attempts have all failed for this long is disabled.",
    )
    webhook_secret_grace_seconds: Seconds = Field(
        default=86400,
        ge=0,
        description="After a rotation the old secret keeps signing beside the new this long.",
    )
    webhook_claim_lease_seconds: Seconds = Field(
        default=30,
        gt=0,
        description="How long a worker holds the deliveries it claimed before another may "
        "take them (at least 3 attempt timeouts): how soon a dead worker's work is resumed.",
    )
    webhook_batch_size: int = Field(
        default=200, ge=1, le=5000, description="Deliveries a worker claims (and runs) at once."
    )
    webhook_concurrency: int = Field(
        default=100, ge=1, description="Most attempts in flight in one process."
    )
    webhook_endpoint_concurrency: int = Field(
        default=10,
        ge=1,
        description="Most attempts in flight to any one endpoint in one process (and at "
        "most half of the process's): a receiver that hangs holds no more sending slots.",
    )
    webhook_poll_seconds: Seconds = Field(
        default=1.0, gt=0, description="How often the dispatcher looks for due deliveries."
    )

    portal_link_ttl_seconds: Seconds = Field(
        default=7 * 86400,
        gt=0,
        description="How long a webhook-portal login link stays valid if unused (7 days).",
    )
    portal_session_ttl_seconds: Seconds = Field(
        default=12 * 3600,
        gt=0,
        description="How long a webhook-portal session lasts after the link is used (12 h).",
    )

    # Svix keeps a message's payload 5 to 90 days (90 by default); responses alike.
    payload_retention_days: int = Field(
        default=90,
        ge=5,
        le=90,
        description="Days a webhook message's payload is kept (5 to 90); then it reads "
        '{"expired": true} and can no longer be sent again.',
    )
    response_retention_days: int = Field(
        default=90,
        ge=5,
        le=90,
        description="Days the response body of a webhook attempt is kept (5 to 90); the "
        "attempt itself stays.",
    )
    job_retention_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days a finished subscription job (COMPLETED or FAILED), its details "
        "and its NPN list are kept after it finished; then its id is a 404. Queued jobs "
        "are never pruned.",
    )
    prune_enabled: bool = Field(
        default=True,
        description="Prune what is past its retention in this process's background work. "
        "Off in every process, nothing is ever deleted and the store grows without bound.",
    )
    prune_interval_seconds: Seconds = Field(
        default=3600, gt=0, description="How often a process prunes (and once at start)."
    )
    prune_batch_size: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Rows pruned in one transaction: each holds its rows' locks (SQLite: "
        "the store's write lock) only that long.",
    )

    _database_urls = field_validator("database_url", "dbos_system_database_url")(checked)

    @field_validator("token_signing_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        # Empty stays what it was: unset, the store's key.
        if value is not None and 0 < len(value.get_secret_value().encode()) < _SHORTEST_KEY_BYTES:
            raise ValueError(
                f"shorter than {_SHORTEST_KEY_BYTES} bytes; make one with `openssl rand -base64 32`"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None:
            return value
        TypeAdapter(HttpUrl).validate_python(value)  # every HAL link starts with it
        # Taken, a user and password went out in every HAL link, to every client, and a
        # query or fragment came before each link's path: https://h/?q=1/v2/entities.
        base, _, _ = value.partition("#")
        extra = [
            what
            for what, there in (
                ("a user or password", "@" in urlsplit(value).netloc),
                ("a query", "?" in base),
                ("a fragment", "#" in value),
            )
            if there
        ]
        if extra:
            raise ValueError(
                f"{masked(value)!r} has {' and '.join(extra)}: the base of every link the "
                "service gives out is a scheme, a host, a port and a path alone"
            )
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        # Comma-separated like every list in the environment, or JSON: read as JSON
        # only, `5,300` would be a traceback out of the settings library.
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError(f"{value!r} is not a JSON list of seconds") from None
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _delays(cls, value: list[float]) -> list[float]:
        for delay in value:
            if not 0 <= delay <= _LONGEST_SECONDS:  # nan too
                raise ValueError(f"{delay} is not a delay from 0 to {_LONGEST_SECONDS} seconds")
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError(f"{masked(value)!r} is not memory:// or a redis:// URL")
        if value.startswith("memory://"):
            return value
        # Imported here, not with the module: every admin, db and nipr command reads these
        # settings, and redis (with the OpenTelemetry it loads) would be a tenth of
        # their imports, for a setting most never use.
        from redis.asyncio import ConnectionPool

        try:
            # The connection a request would open, without opening it: a port that is no
            # number or an unknown option would be a traceback at start-up (the password
            # in it) or at the first request.
            pool = ConnectionPool.from_url(value)
            pool.connection_class(**pool.connection_kwargs)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{masked(value)!r} is not a Redis URL: {masked(str(exc))}") from None
        return value

    @field_validator("nipr_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not croniter.is_valid(value, second_at_beginning=True):
            raise ValueError(f"'{value}' is not a cron expression")
        # One no day matches (the 31st of February) was taken: DBOS kept it in the system
        # database, then a traceback ended the start, exit code 3.
        try:
            croniter(value, second_at_beginning=True).get_next()
        except CroniterBadDateError:
            raise ValueError(f"'{value}' never fires: no day matches it") from None
        return value
