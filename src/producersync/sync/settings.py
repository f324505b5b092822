"""The sync service's settings: one object, read once at start-up, passed down.

Environment variables carry the prefix ``PRODUCERSYNC_``; a TOML file named by
``PRODUCERSYNC_SYNC_CONFIG`` supplies defaults beneath them.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import InitErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from producersync.database_url import (
    CONNECT_TIMEOUT_SECONDS,
    checked,
    dbos_system_url,
    with_connect_timeout,
)
from producersync.executor_settings import EXECUTOR_LOCK_WAIT_SECONDS, ExecutorLockWaitSetting
from producersync.head_settings import HEAD_TIMEOUT_SECONDS, HeadTimeoutSetting
from producersync.log_settings import LogFormatSetting, LogLevelSetting
from producersync.masked_settings import MaskedSettings
from producersync.model.http_url import api_url, http_url, refused_in_clear
from producersync.settings_variables import own_variables, variable
from producersync.shutdown_settings import SHUTDOWN_GRACE_SECONDS, ShutdownGraceSetting
from producersync.sync.heartbeat import DEFAULT_INTERVAL, LEASE_BEATS
from producersync.webhooks import SECRET_PREFIX, WebhookSecretError, parse_secret

# The SDK (and its HTTP stack) only for a command that calls the API (``client``): the
# commands that read the mirror alone load these settings too.
if TYPE_CHECKING:
    from producersync.client import Client

__all__ = ["CONFIG_ENV", "SyncSettings"]

CONFIG_ENV = "PRODUCERSYNC_SYNC_CONFIG"
"""The environment variable naming the optional TOML configuration file."""
_CONFIG_SETTING = CONFIG_ENV.removeprefix("PRODUCERSYNC_").lower()  # as errors name it


def _own(name: str) -> str:
    """The variable of a setting of the sync process's own, apart from the service's."""
    return f"PRODUCERSYNC_SYNC_{name.upper()}"


class SyncSettings(MaskedSettings):
    """Every knob of ``producersync sync`` (environment prefix ``PRODUCERSYNC_``)."""

    # Inputs stay out of a ValidationError's text: they may be secrets or URLs with
    # passwords (the CLI names a refused value itself, masked: cli/common.py).
    # The process's own settings (where it listens, its DBOS state) take the variables
    # PRODUCERSYNC_SYNC_*: under the bare names, a sync started in the service's
    # environment (the demo passes on its own) listened on the service's port and shared
    # its DBOS system database and executor id. By name, they are `port` and the rest.
    model_config = SettingsConfigDict(
        env_prefix="PRODUCERSYNC_",
        extra="ignore",
        hide_input_in_errors=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    api_url: str | None = Field(
        default=None, description="ProducerSync API base URL; default: from `environment`."
    )
    token_url: str | None = Field(
        default=None, description="OAuth2 token URL; default: from `environment` or the API's."
    )
    environment: Literal["sandbox", "production"] = Field(
        default="sandbox", description="AgentSync's API to use when `api_url` is not set."
    )
    allow_plain_http_api: bool = Field(
        default=False,
        description="Let `api_url` and `token_url` be plain http:// to another host than this "
        "one, the client secret, tokens and records sent unencrypted (a private network no "
        "one else reads); loopback http is always allowed.",
    )
    client_id: str | None = Field(default=None, description="OAuth2 client id.")
    client_secret: SecretStr | None = Field(default=None, description="OAuth2 client secret.")
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Webhook signing secrets (`whsec_...`), comma-separated (several during a "
        "rotation); `sync run` needs one.",
    )
    mirror_url: str = Field(
        default="sqlite:///producersync-mirror.db",
        description="SQLAlchemy URL of the mirror (PostgreSQL: a connection attempt gives up "
        f"after {CONNECT_TIMEOUT_SECONDS} s unless the URL sets ?connect_timeout=N).",
    )
    mirror_pool_size: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="PostgreSQL connections this process's mirror pool keeps open, opening "
        "up to twice as many more under load; DBOS's system database then gets a pool of "
        "twice as many. Size it so that every process fits the server's max_connections "
        "(default: 5 and 10 more for the mirror, 20 for DBOS).",
    )
    dbos_system_database_url: str | None = Field(
        default=None,
        validation_alias=_own("dbos_system_database_url"),
        description="DBOS system database; default: beside a SQLite mirror "
        "(<mirror>.dbos.sqlite), or the mirror's own Postgres database.",
    )
    webhook_path: str = Field(
        default="/webhooks/psapi", pattern=r"^/", description="Path of the webhook receiver."
    )
    host: str = Field(
        default="127.0.0.1",
        min_length=1,  # empty, uvicorn binds every interface
        validation_alias=_own("host"),
        description="Interface the receiver listens on.",
    )
    port: int = Field(
        default=8400,
        ge=1,
        le=65535,
        validation_alias=_own("port"),
        description="TCP port the receiver listens on.",
    )
    log_level: LogLevelSetting = "info"
    log_format: LogFormatSetting = "text"
    head_timeout_seconds: HeadTimeoutSetting = HEAD_TIMEOUT_SECONDS
    shutdown_grace_seconds: ShutdownGraceSetting = SHUTDOWN_GRACE_SECONDS
    executor_id: str | None = Field(
        default=None,
        validation_alias=_own("executor_id"),
        description="This process's DBOS executor id (what it recovers after a crash); "
        "default: <hostname>:<port>.",
    )
    executor_lock_wait_seconds: ExecutorLockWaitSetting = Field(
        default=EXECUTOR_LOCK_WAIT_SECONDS, validation_alias=_own("executor_lock_wait_seconds")
    )
    # Each wait and pace finite: taken, inf would make activations wait for good.
    coalesce_seconds: float = Field(
        default=2.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="NPN activations arriving this close are fetched together (no wait for an "
        "activation while the mirror has no active NPN: a first subscription is one pass over "
        "the population).",
    )
    # 500 ten-digit NPNs make a 6.6 KB URL: more would pass the 8 KB request-line limit
    # of common proxies (and of the service's own server at a few thousand), so every
    # activation fetch would fail.
    coalesce_max: int = Field(
        default=500, ge=1, le=500, description="Most NPNs in one bulk fetch (at most 500)."
    )
    population_settle_seconds: float = Field(
        default=10.0,
        ge=0,
        le=60,
        allow_inf_nan=False,  # NaN is no number, not "should be less than or equal to 60"
        description="A pass over the whole population reads the subscriptions list on "
        "until it has held still this long: a storm sent as several requests is several "
        "jobs, committed seconds apart.",
    )
    # Bounded, as each is used where a large number fails: a LIMIT past the database's
    # integers would fail every collector pass, and a retention past year 1 stop `sync
    # run` at start with a traceback (OverflowError).
    collect_max: int = Field(
        default=50_000,
        ge=1,
        le=10_000_000,
        description="Most activations the collector takes in one pass (it passes again "
        "until none is left).",
    )
    pull_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Streams (a resource, a set of NPNs) pulled at once by this process: "
        "enough to keep the API's rate limit, not its latency, the pace.",
    )
    page_size: int = Field(
        default=1000, ge=1, le=1000, description="Records per page when pulling."
    )
    api_rate_limit_per_minute: float = Field(
        default=300,
        gt=0,
        allow_inf_nan=False,
        description="Requests per minute the client paces itself under (the API allows 300 "
        "per credential: give each process sharing one its share).",
    )
    api_timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds each wait on the API may take (to connect, to send, for the next "
        "bytes of a response) before the request is retried; each attempt as a whole has four "
        "times this (the SDK's deadline).",
    )
    api_max_retries: int = Field(
        default=8,
        ge=0,
        le=20,
        description="Retries of a failed API request (5xx, 429, reset, timeout), with "
        "backoff up to 8 s, before its sync run fails: a background sync can wait out a "
        "minute of trouble.",
    )
    sync_retry_seconds: float = Field(
        default=300,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="A sync that failed (a daily one, or a fetch of activations: the API "
        "or the mirror out past their retries) is run again this long after, until it "
        "succeeds.",
    )
    run_heartbeat_seconds: float = Field(
        default=DEFAULT_INTERVAL,
        ge=0.1,
        le=600,
        allow_inf_nan=False,
        description="How often a process records that each sync run it is running is "
        f"alive; a run not finished and not heard of for {LEASE_BEATS} times this long "
        "(its process killed, or stopped by hand) is shown interrupted.",
    )
    purge_deactivated: bool = Field(
        default=False, description="Delete a deactivated NPN's records (default: keep them)."
    )
    # At least 30: the sender retries an event for days and a customer may replay it
    # from the portal later; a receipt pruned sooner lets that delivery be acted on twice.
    receipt_retention_days: int = Field(
        default=30,
        ge=30,
        le=36_500,
        description="Receipts (and so event-id deduplication) kept this long (30 days to "
        "a hundred years); pruned at start and by the daily catch-up.",
    )
    # Not unbounded: every insert, change and purge is a row (about 350 bytes; a
    # backfill's 300,000), and nothing deleted one.
    change_retention_days: int = Field(
        default=90,
        ge=1,
        le=36_500,
        description="The change feed kept this long (1 day to a hundred years); the older "
        "changes are deleted at start and by the daily catch-up.",
    )
    # Only a schedule given is checked (croniter imported for it): the default is one, and
    # the commands that read the mirror load these settings too.
    catch_up_cron: str = Field(
        default="0 7 * * *",
        validate_default=False,
        description="Cron (UTC) of the daily catch-up check.",
    )
    max_body_bytes: int = Field(
        default=1 << 20, ge=1, description="Larger webhook bodies are refused (413)."
    )

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # Empty items are kept until the secrets are numbered: dropped here, the third
        # of 'whsec_a,,bad' was told as "secret 2", and the operator fixed the wrong one.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",")]
        return value

    @field_validator("webhook_secrets")
    @classmethod
    def _parsed(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        # Parsed at start-up: else a malformed secret is found by the first delivery,
        # each one a 500 while the process reports itself healthy.
        for number, secret in enumerate(secrets, 1):
            value = secret.get_secret_value()
            if not value:
                continue
            # Said before parsing, for this setting's remedy (parse_secret's is a list):
            # two secrets joined by a space or a ';' would be "contains whitespace" or
            # "uses URL-safe base64" (the second's prefix).
            if (times := value.count(SECRET_PREFIX)) > 1:
                raise ValueError(
                    f"secret {number} holds {SECRET_PREFIX!r} {times} times: secrets run "
                    "together; separate them with commas"
                )
            try:
                parse_secret(value)
            except WebhookSecretError as exc:
                raise ValueError(f"secret {number}: {exc}") from None
        return [secret for secret in secrets if secret.get_secret_value()]

    _database_urls = field_validator("mirror_url", "dbos_system_database_url")(checked)

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str | None) -> str | None:
        return value if value is None else api_url(value)

    @field_validator("token_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return value if value is None else http_url(value)

    @field_validator("catch_up_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value, second_at_beginning=True):
            raise ValueError(f"'{value}' is not a cron expression")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = os.environ.get(CONFIG_ENV)
        sources: tuple[PydanticBaseSettingsSource, ...] = (
            init_settings,
            _Environment(settings_cls),
        )
        if config:
            values = _by_name(settings_cls, Path(config), _config_file(Path(config)))
            sources += (InitSettingsSource(settings_cls, values),)
        return sources

    @classmethod
    def given_in(cls, name: str) -> str | None:
        """``sync_port in /etc/sync.toml`` when the configuration file gave the setting
        ``name`` (its variable not set, or that would win): a value the file got wrong
        was told under its variable alone, which the operator then looked for in an
        environment that has none."""
        config = os.environ.get(CONFIG_ENV)
        named = variable(cls, name).upper()
        if not config or any(key.upper() == named for key in os.environ):
            return None
        key = _file_key(cls, name)
        try:
            held = _config_file(Path(config))
        except ValidationError:  # told as the file's own problem
            return None
        return f"{key} in {config}" if key in held else None

    def require(self, needs: Mapping[str, str]) -> None:
        """Refuse, as loading refuses a wrong setting, each setting of ``needs`` left
        unset: those only some commands need, each with what needs it."""
        missing = [
            (name, f"not set: {why}") for name, why in needs.items() if not getattr(self, name)
        ]
        if missing:
            raise _refused(*missing)

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in self.webhook_secrets]

    def client(self) -> Client:
        """An SDK client for these settings; refused as a setting without credentials."""
        from producersync.client import Client

        self.require(dict.fromkeys(("client_id", "client_secret"), "the command calls the API"))
        self.refuse_plain_http()
        secret = self.client_secret.get_secret_value() if self.client_secret else None
        # Always an environment or a base URL: the SDK then reads no URL variable, and the
        # API is these settings' alone, a configuration file's included.
        return Client(
            self.client_id,
            secret,
            environment=None if self.api_url else self.environment,
            base_url=self.api_url,
            token_url=self.token_url,
            rate_limit=self.api_rate_limit_per_minute,
            timeout=self.api_timeout_seconds,
            max_retries=self.api_max_retries,
            allow_plain_http=self.allow_plain_http_api,  # refused above unless allowed
        )

    def refuse_plain_http(self) -> None:
        """Refuse, as a wrong setting, an API or token URL that would carry the client
        secret and the tokens in clear across a network, unless allowed."""
        if self.allow_plain_http_api:
            return
        allow = variable(type(self), "allow_plain_http_api")
        urls = {"api_url": self.api_url, "token_url": self.token_url}
        found = refused_in_clear(urls, f"set {allow}=true")
        if found:
            raise _refused(*found)

    def system_database_url(self) -> str:
        """The DBOS system database: the setting, else a SQLite file beside a SQLite
        mirror, or the mirror's own Postgres database (DBOS keeps to its own schema).
        PostgreSQL's with the connect timeout of the mirror's (``database_url``)."""
        if self.dbos_system_database_url:
            return with_connect_timeout(self.dbos_system_database_url)
        return dbos_system_url(self.mirror_url, "producersync-mirror.db")


def _refused(*problems: tuple[str, str]) -> ValidationError:
    """The error loading ``SyncSettings`` raises, for problems (a setting's name, why) found
    outside its validators: the CLI tells them as it tells the others, naming each
    variable, with exit code 2."""
    return ValidationError.from_exception_data(
        SyncSettings.__name__,
        [
            InitErrorDetails(
                type="value_error", loc=(name,), input=None, ctx={"error": ValueError(why)}
            )
            for name, why in problems
        ],
    )


class _Environment(EnvSettingsSource):
    """The environment, where a setting that names its own variable is read from that one
    alone: taking a setting by its name (an option's value) makes pydantic-settings read
    the prefixed name too, and `port` would be the service's PRODUCERSYNC_PORT again."""

    def __call__(self) -> dict[str, Any]:
        own = own_variables(self.settings_cls)
        return {key: value for key, value in super().__call__().items() if key not in own}


def _file_names(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """The keys a configuration file may hold, each with its setting's name: the
    variable's name in lower case without the prefix, so `sync_port` there is `port`."""
    return {_file_key(settings_cls, name): name for name in settings_cls.model_fields}


def _file_key(settings_cls: type[BaseSettings], name: str) -> str:
    """The key of the setting ``name`` in a configuration file (``_file_names``)."""
    return variable(settings_cls, name).removeprefix("PRODUCERSYNC_").lower()


def _by_name(
    settings_cls: type[BaseSettings], path: Path, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The file's settings under their names. A key that is no setting's refuses the
    file at ``path``: a misspelt one (`sync_prot`, or a table such as `[sync]`) would
    be ignored without a word, and the process run on the default it was meant to change."""
    names = _file_names(settings_cls)
    unknown = [key for key in values if key not in names]
    if unknown:
        told = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(names), n=1)
            told.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise _refused((_CONFIG_SETTING, f"{path}: no such setting {', '.join(told)}"))
    return {names[key]: value for key, value in values.items()}


def _config_file(path: Path) -> dict[str, Any]:
    """The settings in the TOML file at ``path``; a file that is missing or unreadable is
    a wrong setting (pydantic's own TOML source skips a missing one without a word)."""
    if path.exists() and not (path.is_file() or path.is_dir()):
        # Read, a FIFO waits for a writer and /dev/zero never ends: the command would hang.
        raise _refused((_CONFIG_SETTING, f"{path}: not a regular file (a pipe or a device)"))
    try:
        return tomllib.loads(path.read_bytes().decode())
    except FileNotFoundError:
        why = "no such file"
    except IsADirectoryError:
        why = "a directory, not a file"
    except OSError as exc:
        why = f"cannot be read ({exc.strerror or exc})"
    except UnicodeDecodeError:
        why = "not UTF-8 text, as TOML is"
    except tomllib.TOMLDecodeError as exc:
        why = f"not valid TOML: {exc}"
    raise _refused((_CONFIG_SETTING, f"{path}: {why}"))
