"""Settings: one frozen object built from the environment (and an optional `.env`
file) at start-up.

Every missing or malformed variable is reported at once, one line each, naming
the variable and never echoing a secret's value. The names are the interface
contract of DESIGN.md §3; `.env.example` documents each of them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from wecom_app.archive.keys import KeyFileError, load_private_keys

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"
DEFAULT_DATABASE_URL = "sqlite:///instance/wecom_app.db"
DEFAULT_WORK_HOURS = "09:00-12:00,13:30-18:00"
DEFAULT_INSTRUCTION_MARKERS = ("请各位", "务必", "截止")

_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
_TOKEN = re.compile(r"[A-Za-z0-9]{1,32}")
_USERID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_WINDOW = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")


class SettingsError(Exception):
    """Raised with every problem found, so an operator fixes them in one go."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclasses.dataclass(frozen=True)
class Settings:
    corp_id: str
    agent_id: int
    secret: str = dataclasses.field(repr=False)
    token: str = dataclasses.field(repr=False)
    aes_key: str = dataclasses.field(repr=False)
    secret_key: str = dataclasses.field(repr=False)
    contact_secret: str = dataclasses.field(default="", repr=False)
    contact_token: str = dataclasses.field(default="", repr=False)
    contact_aes_key: str = dataclasses.field(default="", repr=False)
    api_base: str = DEFAULT_API_BASE
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = "http://127.0.0.1:8000"
    admins: tuple[str, ...] = ()
    admin_tag: int | None = None  # members of this WeCom tag are office admins too (no admin-list API)
    session_hours: int = 12  # workbench login lifetime
    proxy_count: int = 0  # trusted reverse proxies in front (X-Forwarded-*); 0: none, no ProxyFix
    timezone: str = "Asia/Shanghai"
    work_hours: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13, 30), time(18)))
    log_level: str = "INFO"
    group_name_pattern: str = ""  # empty: wecom_app.governance.naming's default
    real_name_pattern: str = ""  # empty: 2-4 CJK characters; or a preset name (naming.REAL_NAME_PRESETS)
    real_name_grace_days: int = 3  # R2: days to fix a bad name before it is a violation
    sanction_ladder: str = "warning,temporary_removal:7,removal"
    callback_max_bytes: int = 256 * 1024
    callback_max_skew: int = 600
    # served by gunicorn: seconds a request body may take to arrive before the app answers 408
    # and closes (a slow client must not hold a worker thread; wecom_app/served.py)
    body_timeout: int = 2
    wecom_timeout: float = 10.0
    inbox_max_attempts: int = 8
    outbox_max_attempts: int = 10
    # a transient failure (network, 5xx, -1, 45009, 45033) keeps an outbox row trying this long
    outbox_give_up_after: int = 3 * 86400
    # the receiver's local spool while the database is unavailable (document/path/90930 §3.2)
    spool_dir: str = "instance/spool"
    # the company's admin-set group size: appchat/create and update answer 86006 above it (90245, 90244)
    group_size_limit: int = 200
    # the company's seats, for message/send's daily quota of seats × 200 person-times (90312); None: unknown
    seat_limit: int | None = None
    # the conversation archive (会话内容存档, 91774): all three set, or all empty (off)
    archive_secret: str = dataclasses.field(default="", repr=False)
    archive_private_keys: str = ""  # a PEM file, or a directory of <publickey_ver>.pem files
    finance_sdk: str = ""  # path of libWeWorkFinanceSdk_C.so, or "emulator" (the WeCom emulator's stand-in)
    # R6: leaders who get the weekly and monthly digest (wecom_app/digest) besides the office admins
    digest_leaders: tuple[str, ...] = ()
    archive_retention_days: int = 180  # archived content older than this is deleted, except messages cited as evidence
    # R16: words that make an archived message from a leader or custodian in a governed group an
    # instruction to offer for tracking, even without an @-mention (archive/instructions.py)
    instruction_markers: tuple[str, ...] = DEFAULT_INSTRUCTION_MARKERS
    # Set only in code by `wecom-app sandbox` and the tests; no variable turns it on.
    sandbox: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def archive_enabled(self) -> bool:
        return bool(self.archive_secret and self.archive_private_keys and self.finance_sdk)

    @property
    def has_contact_callback(self) -> bool:
        return bool(self.contact_token and self.contact_aes_key)


def parse_work_hours(text: str) -> tuple[tuple[time, time], ...]:
    """`09:00-12:00,13:30-18:00` → ordered, non-overlapping windows; ValueError otherwise."""
    windows = []
    for part in text.split(","):
        match = _WINDOW.fullmatch(part.strip())
        if not match:
            raise ValueError(f"{part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"{part.strip()!r} is not a valid time range")
        start, end = time(h1, m1), time(h2, m2)
        if start >= end:
            raise ValueError(f"{part.strip()!r} ends before it starts")
        if windows and start < windows[-1][1]:
            raise ValueError(f"{part.strip()!r} overlaps or precedes the window before it")
        windows.append((start, end))
    return tuple(windows)


_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """`3d`, `72h`, `90m`, `600s` or `600` → seconds; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise ValueError(f"{text.strip()!r} is not a duration such as 3d, 72h, 90m or 600")
    return int(match.group(1)) * _UNIT[match.group(2)]


class _Reader:
    """The environment being read, and the one list of problems every setting group adds to."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def get(self, name: str, default: str = "") -> str:
        return self.env.get(name, "").strip() or default

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def required(self, name: str) -> str:
        value = self.get(name)
        if not value:
            self.problem(f"{name}: required but not set")
        return value

    def int(self, name: str, default, minimum: int = 1):
        raw = self.get(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problem(f"{name}: must be an integer, got {raw!r}")
            return default
        if value < minimum:
            self.problem(f"{name}: must be at least {minimum}")
        return value


def _wecom_app(env: _Reader) -> dict:
    """The self-built app's credentials and callback (WECOM_*), and where WeCom is."""
    corp_id = env.required("WECOM_CORP_ID")
    agent_raw = env.required("WECOM_AGENT_ID")
    agent_id = 0
    if agent_raw:
        if agent_raw.isdigit():
            agent_id = int(agent_raw)
        else:
            env.problem(f"WECOM_AGENT_ID: must be the app's numeric AgentId, got {agent_raw!r}")
    secret = env.required("WECOM_SECRET")
    token = env.required("WECOM_TOKEN")
    if token and not _TOKEN.fullmatch(token):
        env.problem("WECOM_TOKEN: must be 1-32 letters or digits (as the WeCom console generates it)")
    aes_key = env.required("WECOM_AES_KEY")
    if aes_key and not _AES_KEY.fullmatch(aes_key):
        env.problem(f"WECOM_AES_KEY: must be exactly 43 letters or digits (got {len(aes_key)} characters)")

    contact_secret, contact_token = env.get("WECOM_CONTACT_SECRET"), env.get("WECOM_CONTACT_TOKEN")
    contact_aes_key = env.get("WECOM_CONTACT_AES_KEY")
    if contact_token and not _TOKEN.fullmatch(contact_token):
        env.problem("WECOM_CONTACT_TOKEN: must be 1-32 letters or digits")
    if contact_aes_key and not _AES_KEY.fullmatch(contact_aes_key):
        env.problem(f"WECOM_CONTACT_AES_KEY: must be exactly 43 letters or digits"
                    f" (got {len(contact_aes_key)} characters)")
    if bool(contact_token) != bool(contact_aes_key):
        env.problem("WECOM_CONTACT_TOKEN and WECOM_CONTACT_AES_KEY: set both or neither")

    api_base = env.get("WECOM_API_BASE", DEFAULT_API_BASE)
    parts = urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        env.problem(f"WECOM_API_BASE: must be an http(s) URL such as {DEFAULT_API_BASE}")
    elif not api_base.endswith("/"):
        api_base += "/"
    return dict(corp_id=corp_id, agent_id=agent_id, secret=secret, token=token, aes_key=aes_key,
                contact_secret=contact_secret, contact_token=contact_token, contact_aes_key=contact_aes_key,
                api_base=api_base, wecom_timeout=float(env.int("WECOM_TIMEOUT", int(Settings.wecom_timeout), 1)))


def _database(env: _Reader) -> dict:
    database_url = env.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not re.match(r"(sqlite|postgresql)(\+\w+)?://", database_url):
        env.problem("DATABASE_URL: must be a sqlite:/// or postgresql:// SQLAlchemy URL")
    return dict(database_url=normalise_database_url(database_url))


def _web(env: _Reader) -> dict:
    """The workbench and the receiver as served: session key, public URL, admins, proxies, bodies."""
    secret_key = env.required("SECRET_KEY")
    if secret_key and len(secret_key) < 16:
        env.problem("SECRET_KEY: must be at least 16 characters (use a long random string)")

    public_url = env.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        env.problem("PUBLIC_URL: must be an http(s) URL such as https://wecom.example.com")

    admins = tuple(a.strip().lower() for a in env.get("WECOM_ADMINS").split(",") if a.strip())
    for admin in admins:
        if not _USERID.fullmatch(admin):
            env.problem(f"WECOM_ADMINS: {admin!r} is not a WeCom userid")

    admin_tag = None
    admin_tag_raw = env.get("WECOM_ADMIN_TAG")
    if admin_tag_raw:
        if admin_tag_raw.isdigit() and int(admin_tag_raw) > 0:
            admin_tag = int(admin_tag_raw)
        else:
            env.problem(f"WECOM_ADMIN_TAG: must be a WeCom tag id (a positive integer), got {admin_tag_raw!r}")
    return dict(secret_key=secret_key, public_url=public_url, admins=admins, admin_tag=admin_tag,
                session_hours=env.int("SESSION_HOURS", Settings.session_hours, 1),
                proxy_count=env.int("PROXY_COUNT", Settings.proxy_count, 0),
                callback_max_bytes=env.int("CALLBACK_MAX_BYTES", Settings.callback_max_bytes, 1024),
                callback_max_skew=env.int("CALLBACK_MAX_SKEW", Settings.callback_max_skew, 30),
                body_timeout=env.int("BODY_TIMEOUT", Settings.body_timeout, 1))


def _working_time(env: _Reader) -> dict:
    """The company's time zone and working hours (R4)."""
    timezone = env.get("TIMEZONE", "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        env.problem(f"TIMEZONE: unknown time zone {timezone!r} (use an IANA name such as Asia/Shanghai)")
    work_hours = Settings.work_hours
    try:
        work_hours = parse_work_hours(env.get("WORK_HOURS", DEFAULT_WORK_HOURS))
    except ValueError as exc:
        env.problem(f"WORK_HOURS: {exc}")
    return dict(timezone=timezone, work_hours=work_hours)


def _logging(env: _Reader) -> dict:
    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        env.problem("LOG_LEVEL: one of DEBUG, INFO, WARNING, ERROR")
    return dict(log_level=log_level)


def _governance(env: _Reader) -> dict:
    """Naming patterns (R2, R8), the real-name grace period and the sanctions ladder (R6)."""
    found = {}
    for name, field in (("GROUP_NAME_PATTERN", "group_name_pattern"), ("REAL_NAME_PATTERN", "real_name_pattern")):
        pattern = env.get(name)
        try:
            re.compile(pattern)
        except re.error as exc:
            env.problem(f"{name}: not a valid regular expression ({exc})")
        found[field] = pattern

    ladder = env.get("SANCTION_LADDER", Settings.sanction_ladder)
    for step in ladder.split(","):
        if not re.fullmatch(r"warning|removal|temporary_removal:[1-9]\d{0,2}", step.strip()):
            env.problem(f"SANCTION_LADDER: {step.strip()!r} is not warning, temporary_removal:<days> or removal")
    return dict(**found, sanction_ladder=",".join(step.strip() for step in ladder.split(",")),
                real_name_grace_days=env.int("REAL_NAME_GRACE_DAYS", Settings.real_name_grace_days, 0))


def _limits(env: _Reader) -> dict:
    """The pipeline's limits: retries, the outbox's give-up time, the spool, WeCom's group size and seats."""
    give_up_after = Settings.outbox_give_up_after
    give_up_raw = env.get("OUTBOX_GIVE_UP_AFTER")
    if give_up_raw:
        try:
            give_up_after = parse_duration(give_up_raw)
        except ValueError as exc:
            env.problem(f"OUTBOX_GIVE_UP_AFTER: {exc}")
        else:
            if give_up_after < 3600:
                env.problem("OUTBOX_GIVE_UP_AFTER: must be at least 1h (a WeCom outage often lasts longer)")

    group_size_limit = env.int("WECOM_GROUP_SIZE_LIMIT", Settings.group_size_limit, 5)
    if group_size_limit > 2000:
        env.problem("WECOM_GROUP_SIZE_LIMIT: WeCom's group size setting is at most 2000")
    seat_limit = env.int("WECOM_SEAT_LIMIT", None, 1) if env.get("WECOM_SEAT_LIMIT") else None
    return dict(outbox_give_up_after=give_up_after, group_size_limit=group_size_limit, seat_limit=seat_limit,
                spool_dir=env.get("SPOOL_DIR", Settings.spool_dir),
                inbox_max_attempts=env.int("INBOX_MAX_ATTEMPTS", Settings.inbox_max_attempts, 1),
                outbox_max_attempts=env.int("OUTBOX_MAX_ATTEMPTS", Settings.outbox_max_attempts, 1))


ARCHIVE_VARIABLES = ("WECOM_ARCHIVE_SECRET", "WECOM_ARCHIVE_PRIVATE_KEYS", "WECOM_FINANCE_SDK")


def _archive(env: _Reader) -> dict:
    """The conversation archive's three settings: all empty (off) or all set and usable."""
    secret, keys, sdk = (env.get(name) for name in ARCHIVE_VARIABLES)
    given = [name for name, value in zip(ARCHIVE_VARIABLES, (secret, keys, sdk)) if value]
    for name in ARCHIVE_VARIABLES:
        if given and name not in given:
            env.problem(f"{name}: required when {' and '.join(given)} is set (the conversation archive "
                        "needs all three, or none)")
    if keys:
        try:
            load_private_keys(keys)
        except KeyFileError as exc:
            for problem in exc.problems:
                env.problem(problem)
    if sdk and sdk != "emulator":
        for problem in _finance_sdk_problems(Path(sdk)):
            env.problem(problem)
    return dict(archive_secret=secret, archive_private_keys=keys, finance_sdk=sdk,
                archive_retention_days=env.int("ARCHIVE_RETENTION_DAYS", Settings.archive_retention_days, 1))


def _digest(env: _Reader) -> dict:
    """Who gets the periodic summary to leadership (R6) besides the office admins."""
    leaders = tuple(dict.fromkeys(u.strip().lower() for u in env.get("DIGEST_LEADERS").split(",") if u.strip()))
    for userid in leaders:
        if not _USERID.fullmatch(userid):
            env.problem(f"DIGEST_LEADERS: {userid!r} is not a WeCom userid")
    return dict(digest_leaders=leaders)


def _instructions(env: _Reader) -> dict:
    """INSTRUCTION_MARKERS (R16): comma-separated words; empty: the default; `-`: none (only
    an @-mention by a leader or custodian is then offered for tracking)."""
    raw = env.get("INSTRUCTION_MARKERS")
    if not raw:
        return dict(instruction_markers=DEFAULT_INSTRUCTION_MARKERS)
    if raw == "-":
        return dict(instruction_markers=())
    markers = tuple(dict.fromkeys(m.strip() for m in raw.replace("，", ",").split(",") if m.strip()))
    for marker in markers:
        if len(marker) > 32 or marker.startswith("@"):
            env.problem(f"INSTRUCTION_MARKERS: {marker[:40]!r} is not a marker word (at most 32 characters, no @)")
    return dict(instruction_markers=markers)


# Each group reads its variables and adds what is wrong to the reader's one list of problems.
GROUPS = (_wecom_app, _database, _web, _working_time, _logging, _governance, _limits, _archive, _digest, _instructions)


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Build Settings from `environ` (default os.environ) over an optional .env file; every
    problem in every group at once (SettingsError)."""
    env: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    reader = _Reader(env)
    fields: dict = {}
    for group in GROUPS:
        fields.update(group(reader))
    if reader.problems:
        raise SettingsError(reader.problems)
    return Settings(**fields)


def _finance_sdk_problems(path: Path) -> list[str]:
    """A readable ELF shared library at `path`; loading it waits for the first pull."""
    where = f"WECOM_FINANCE_SDK: {path}"
    if not path.is_file():
        return [f"{where}: no such file (the path of libWeWorkFinanceSdk_C.so from document/path/91551, or 'emulator')"]
    try:
        with open(path, "rb") as file:
            magic = file.read(4)
    except OSError as exc:
        return [f"{where} cannot be read ({exc.strerror or type(exc).__name__})"]
    if magic != b"\x7fELF":
        return [f"{where} is not a shared library (libWeWorkFinanceSdk_C.so for Linux)"]
    return []


def normalise_database_url(url: str) -> str:
    """`postgresql://` → the psycopg 3 driver we ship (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url
