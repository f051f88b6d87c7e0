"""WeCom's sending quotas, counted in the database so every process shares them
(`quota_counter`; document/path/90312, shared/wecom-api-notes.md §4).

Each API has its own limits (document/path/90312; the third-party twin 90454 has the
same text):

- every API, per company: 10,000 calls a minute and 150,000 an hour (基础频率; 45009
  beyond). The page also says "发消息频率不计入基础频率": whether message/send calls count
  against it is UNCONFIRMED, so they are counted anyway (100 calls for a 100,000-person
  directive are far below it either way);
- message/send, per app and member: 30 a minute and 1000 an hour, the excess *silently
  dropped* while WeCom answers errcode 0 (pitfall 15), so these counters are the only
  protection a reminder burst has; and per app, seats × 200 person-times a natural day
  (`settings.seat_limit`; unknown = not enforced). message/send has **no** corp-wide
  person-times a minute: the 20,000 figure is appchat/send's;
- appchat/send, per company: 20,000 person-times a minute (members of the group × sends,
  90248/90454) and an hourly figure by tier (150,000 at the lowest: the one kept here);
  per member 200 a minute and 10,000 a day, the excess silently dropped: a group
  message waits until every member has room;
- appchat/create 1000 a natural day, appchat/update 1000 an hour; a group robot 20 a
  minute (99398).

They are consulted before a call so that work is deferred instead of failed.

WeCom does not say whether its windows are fixed or sliding, so a rolling limit
is checked conservatively: counts live in short buckets (`step` seconds) and a
check sums enough buckets to cover the whole window whatever the phase. A daily
quota is a fixed natural day ("自然天", 90454) in Beijing time: WeCom's servers count in
China Standard Time whatever the company's TIMEZONE (UNCONFIRMED, but the only reading
that fits a Chinese service; for a company elsewhere it is still one day's quota).

`reserve` is the atomic form used by the sender: it increments first (an upsert,
`INSERT ... ON CONFLICT DO UPDATE SET count = count + n`, which locks the current
bucket row on PostgreSQL and the whole database on SQLite) and then reads, so
two senders can never both take the last unit; whatever did not fit is given
back in the same transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.orm import Session

from wecom_app.models import QuotaCounter


@dataclasses.dataclass(frozen=True)
class Limit:
    limit: int
    step: int  # bucket length in seconds (QuotaCounter.window)
    buckets: int  # buckets summed by a check: covers the window whatever the phase
    offset: int = 0  # seconds added before bucketing (a Beijing natural day: 8 h)

    def bucket(self, now: datetime) -> int:
        return (int(now.timestamp()) + self.offset) // self.step

    def start(self, bucket: int) -> datetime:
        return datetime.fromtimestamp(bucket * self.step - self.offset, timezone.utc)


def rolling(limit: int, seconds: int, step: int) -> Limit:
    return Limit(limit, step, seconds // step + 1)


BEIJING = 8 * 3600  # offset of a natural day in China Standard Time


def natural_day(limit: int) -> Limit:
    return Limit(limit, 86400, 1, offset=BEIJING)


# message/send, per app and member: 30/min and 1000/h, excess silently dropped (90312)
MEMBER_LIMITS = (rolling(30, 60, 10), rolling(1000, 3600, 300))
# every API, per corp (90312 基础频率): 10,000 calls/min and 150,000/h; 45009 beyond. Counted
# for message/send too although the page says message sends are not (UNCONFIRMED): harmless
CALL_LIMITS = (rolling(10000, 60, 10), rolling(150000, 3600, 300))
# per corp, each API's own call limits on top of CALL_LIMITS; failing is worse than waiting
API_LIMITS = {
    "message/send": CALL_LIMITS,
    "message/update_template_card": CALL_LIMITS,
    "appchat/send": CALL_LIMITS,
    "appchat/create": (*CALL_LIMITS, natural_day(1000)),  # a natural day in Beijing
    # 1000/h is inside 150,000/h: one hourly limit (two of one step on a scope would count twice)
    "appchat/update": (CALL_LIMITS[0], rolling(1000, 3600, 300)),
}
# appchat/send person-times per corp (a send to a group of 100 is 100): 20,000 a minute and,
# per hour, 150,000–700,000 by the company's tier — the lowest kept (90248, 90454)
APPCHAT_PERSON_TIMES_LIMITS = (rolling(20000, 60, 10), rolling(150000, 3600, 300))
# appchat/send, per member from the same app: 200 a minute and 10,000 a day, the excess
# silently dropped (90248, 90454) — the day taken as a natural day (UNCONFIRMED)
APPCHAT_MEMBER_LIMITS = (rolling(200, 60, 10), natural_day(10000))
# a group robot takes 20 messages per minute (99398)
WEBHOOK_LIMITS = (rolling(20, 60, 10),)
SEAT_PERSON_TIMES = 200  # message/send per app per natural day: seats × 200 person-times (90312)
# counters older than this are never read again
KEEP = timedelta(days=2)


def member_scope(userid: str) -> str:
    return f"member:{userid.lower()}"


def api_scope(api: str) -> str:
    return f"api:{api}"


def appchat_member_scope(userid: str) -> str:
    return f"appchat-member:{userid.lower()}"


def person_times_scope(api: str) -> str:
    """Person-times of `api` (message/send per app per day; appchat/send per corp)."""
    return f"persons:{api}"


def seat_limits(seat_limit: int | None) -> tuple[Limit, ...]:
    """message/send's daily quota for this app: seats × 200 person-times a natural day
    (90312); none while the company's seat cap is unknown (WECOM_SEAT_LIMIT unset)."""
    return (natural_day(seat_limit * SEAT_PERSON_TIMES),) if seat_limit else ()


def webhook_scope(key: str) -> str:
    """The robot's key is a secret: only its hash is stored."""
    return "webhook:" + hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclasses.dataclass
class Availability:
    ready: list[str]  # scopes that can take `n` more now
    later: dict[str, datetime]  # the others, and from when they can

    @property
    def next_free(self) -> datetime | None:
        return min(self.later.values(), default=None)


def check(session: Session, scopes: Iterable[str], limits: Sequence[Limit], now: datetime, n: int = 1) -> Availability:
    """Which scopes can take `n` more units now under every limit, and when the others can."""
    scopes = sorted(set(scopes))
    counts = _counts(session, scopes, limits, now)
    result = Availability([], {})
    for scope in scopes:
        free = max(_free_at(counts[(scope, lim.step)], lim, now, n) for lim in limits)
        if free <= now:
            result.ready.append(scope)
        else:
            result.later[scope] = free
    return result


def record(session: Session, scopes: Iterable[str] | dict[str, int], limits: Sequence[Limit], now: datetime, n: int = 1) -> None:
    """Count units in the current bucket of every limit: `n` for each of `scopes`, or a
    count per scope when `scopes` is a dict. One upsert through the driver (a
    100,000-person directive writes 200,000 counters in one claim: the ORM's per-row work
    was most of the claim's time): SQLite's executemany, PostgreSQL's unnest of four
    arrays (four parameters, far from its 65,535 a statement)."""
    amounts = scopes if isinstance(scopes, dict) else dict.fromkeys(scopes, n)
    windows = sorted({(lim.step, lim.bucket(now)) for lim in limits})  # limits of one step count once
    rows = [(scope, step, bucket, amounts[scope]) for scope in sorted(amounts) if amounts[scope]
            for step, bucket in windows]  # sorted: two PostgreSQL claims lock rows in one order
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.paramstyle == "qmark":  # SQLite: executemany runs inside the library
        connection.exec_driver_sql(_upsert_sql(connection.dialect, "VALUES (?, ?, ?, ?)"), rows)
    else:  # PostgreSQL: one statement over four arrays, not a round trip per row (200,000: 32 s → 2 s)
        source = "SELECT * FROM unnest(%s::text[], %s::integer[], %s::bigint[], %s::integer[])"
        connection.exec_driver_sql(_upsert_sql(connection.dialect, source), tuple(map(list, zip(*rows))))


def _upsert_sql(dialect, source: str) -> str:
    quote = dialect.identifier_preparer.quote  # "window" is a reserved word in PostgreSQL
    table, columns = quote(QuotaCounter.__tablename__), [quote(c) for c in ("scope", "window", "bucket", "count")]
    return (f"INSERT INTO {table} ({', '.join(columns)}) {source} "
            f"ON CONFLICT ({', '.join(columns[:3])}) DO UPDATE SET {columns[3]} = {table}.{columns[3]} + excluded.{columns[3]}")


def reserve(session: Session, scopes: Iterable[str], limits: Sequence[Limit], now: datetime, n: int = 1) -> Availability:
    """Atomically take `n` units for every scope that has room; the rest take nothing.

    Runs inside the caller's transaction: the sender commits it together with the
    claim of the outbox row, so a quota is never taken for work nobody holds.
    """
    scopes = sorted(set(scopes))
    record(session, scopes, limits, now, n)  # lock first, then look
    counts = _counts(session, scopes, limits, now)
    result = Availability([], {})
    for scope in scopes:
        for lim in limits:
            counts[(scope, lim.step)][lim.bucket(now)] -= n  # judge without our own units
        free = max(_free_at(counts[(scope, lim.step)], lim, now, n) for lim in limits)
        if free <= now:
            result.ready.append(scope)
        else:
            result.later[scope] = free
    release(session, result.later, limits, now, n)
    return result


def release(session: Session, scopes: Iterable[str], limits: Sequence[Limit], now: datetime, n: int = 1) -> None:
    """Give back units reserved in the current buckets (same transaction as the reserve)."""
    record(session, list(scopes), limits, now, -n)


class Tally:
    """The quotas of a batch of sends: one read per limit, decisions in memory, one
    upsert per limit at `flush`. Only for a caller whose batches take turns (the
    outbox claims under a lock), since it reads before it writes."""

    def __init__(self, session: Session, now: datetime):
        self.session, self.now = session, now
        self._counts: dict = defaultdict(lambda: defaultdict(int))
        self._loaded: dict[Limit, set[str]] = defaultdict(set)  # the scopes read, per limit
        self._taken: dict[tuple[Limit, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def load(self, scopes: Iterable[str], limits: Sequence[Limit]) -> None:
        scopes = list(scopes)
        missing = {lim: sorted(set(scopes) - self._loaded[lim]) for lim in limits}
        wanted = sorted({s for names in missing.values() for s in names})
        if wanted:  # one read for every limit at once
            for key, buckets in _counts(self.session, wanted, [lim for lim in limits if missing[lim]], self.now).items():
                self._counts[key].update(buckets)
            for lim, names in missing.items():
                self._loaded[lim].update(names)

    def take(self, scopes: Iterable[str], limits: Sequence[Limit], n: int = 1) -> Availability:
        """Take `n` for every scope that has room (in memory until `flush`)."""
        scopes = list(dict.fromkeys(scopes))
        self.load(scopes, limits)
        result = Availability([], {})
        now, windows = self.now, [(lim, lim.step, lim.bucket(self.now)) for lim in limits]
        if any(n > lim.limit for lim in limits):
            raise ValueError(f"{n} units can never fit a limit of {min(lim.limit for lim in limits)}")
        taken = self._taken[tuple(limits)]
        for scope in scopes:
            counted = [self._counts.get((scope, step)) for _, step, _ in windows]
            if any(counted):  # the fast path (nothing counted yet) is a 100,000-person directive's usual case
                free = max(_free_at(c or {}, lim, now, n) for c, (lim, _, _) in zip(counted, windows))
                if free > now:
                    result.later[scope] = free
                    continue
            result.ready.append(scope)
            for _, step, bucket in windows:
                self._counts[(scope, step)][bucket] += n
            taken[scope] += n
        return result

    def room(self, scope: str, limits: Sequence[Limit]) -> int:
        """How many units `scope` can still take now under every limit."""
        self.load([scope], limits)
        return max(0, min((_room(self._counts[(scope, lim.step)], lim, self.now) for lim in limits), default=0))

    def free_at(self, scope: str, limits: Sequence[Limit], n: int = 1) -> datetime:
        """When `scope` can take `n` more under every limit (now if it can already)."""
        self.load([scope], limits)
        return max(_free_at(self._counts[(scope, lim.step)], lim, self.now, n) for lim in limits)

    def give_back(self, scopes: Iterable[str], limits: Sequence[Limit], n: int = 1) -> None:
        for scope in scopes:
            self._add(scope, limits, -n)

    def _add(self, scope: str, limits: Sequence[Limit], n: int) -> None:
        for lim in limits:
            self._counts[(scope, lim.step)][lim.bucket(self.now)] += n
        self._taken[tuple(limits)][scope] += n

    def flush(self) -> None:
        for limits, amounts in self._taken.items():
            record(self.session, amounts, limits, self.now)
        self._taken.clear()


def check_members(session: Session, userids: Iterable[str], now: datetime) -> Availability:
    """Which members can receive one more app message now, and when the others can."""
    return _by_userid(check(session, map(member_scope, userids), MEMBER_LIMITS, now))


def reserve_members(session: Session, userids: Iterable[str], now: datetime) -> Availability:
    """Take one message of quota for each member that has room (see `reserve`)."""
    return _by_userid(reserve(session, map(member_scope, userids), MEMBER_LIMITS, now))


def _by_userid(availability: Availability) -> Availability:
    strip = len(member_scope(""))
    return Availability(
        [scope[strip:] for scope in availability.ready],
        {scope[strip:]: when for scope, when in availability.later.items()},
    )


def prune(session: Session, now: datetime) -> int:
    """Delete buckets that no check reads any more."""
    cutoff = int((now - KEEP).timestamp())
    c = QuotaCounter.__table__.c
    return session.execute(delete(QuotaCounter).where((c.bucket + 1) * c.window < cutoff)).rowcount


IN_CHUNK = 10_000


def _counts(session: Session, scopes: list[str], limits: Sequence[Limit], now: datetime) -> dict:
    counts: dict[tuple[str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    if not scopes:
        return counts
    # the windows of all limits in one statement per chunk, through the driver (SQLAlchemy's
    # rendering of 10,000 IN parameters cost more than the query)
    firsts: dict[int, int] = {}
    for lim in limits:
        firsts[lim.step] = min(firsts.get(lim.step, lim.bucket(now)), lim.bucket(now) - lim.buckets + 1)
    connection = session.connection()
    quote, dialect = connection.dialect.identifier_preparer.quote, connection.dialect
    window, count = quote("window"), quote("count")
    windows = " OR ".join(f"({window} = {int(step)} AND bucket >= {int(first)})" for step, first in firsts.items())
    select_sql = f"SELECT scope, {window}, bucket, {count} FROM {quote(QuotaCounter.__tablename__)} WHERE "
    for start in range(0, len(scopes), IN_CHUNK):  # a parameter per scope: stay far below 65,535
        chunk = scopes[start:start + IN_CHUNK]
        if dialect.paramstyle == "qmark":
            sql, params = f"{select_sql}scope IN ({','.join('?' * len(chunk))}) AND ({windows})", tuple(chunk)
        else:  # PostgreSQL: one array parameter
            sql, params = f"{select_sql}scope = ANY(%s) AND ({windows})", (list(chunk),)
        for scope, step, bucket, amount in connection.exec_driver_sql(sql, params):
            counts[(scope, step)][bucket] += amount
    return counts


def _room(counts: dict[int, int], lim: Limit, now: datetime) -> int:
    current = lim.bucket(now)
    return lim.limit - sum(count for bucket, count in counts.items() if bucket > current - lim.buckets)


def _free_at(counts: dict[int, int], lim: Limit, now: datetime, n: int) -> datetime:
    """The first moment the window holds room for `n` more (now if it already does)."""
    if n > lim.limit:
        raise ValueError(f"{n} units can never fit a limit of {lim.limit}")
    current = lim.bucket(now)
    # counts in future buckets only come from another process's clock running ahead
    for ahead in range(max([current, *counts]) - current + lim.buckets + 1):
        end = current + ahead
        used = sum(count for bucket, count in counts.items() if end - lim.buckets < bucket <= end)
        if used + n <= lim.limit:
            return now if ahead == 0 else lim.start(end)
    raise AssertionError("unreachable: the horizon is past every counted bucket")
