"""`bench/callback_ingest.py --dispatch`: the dispatcher measured (issue 14, item 3), on PostgreSQL.

Seeded as production would be: --people (10,000) active people in one department, --groups
(100) customer groups registered with that department as their scope, and one directive issued
to the department (`directives.issue`), its cards taken as delivered (each batch given the task_id
WeCom would have echoed, each receipt `delivered`). Events, as WeCom sends them:

* change_external_chat update/add_member: one member joins a registered group, with the member
  versions chaining per group (LastMemVer = the group's current); 1 % are outsiders (an external
  contact in a group that allows none: R11, a violation and a removal queued);
* template_card_event: an assignee presses 收到 (EventKey ack) on the directive's card.

(a) Judged per second: the inbox is loaded with --dispatch-events of each kind (inserted as the
receiver stores them), then 1, and in a fresh database 2, dispatcher processes run the real
`dispatch_pending` with the real router until nothing due is pending (or --dispatch-max-seconds,
120, have passed); an event whose handler failed (put off by its backoff: two dispatchers
deadlocking) or that was not reached in time is counted as not judged, and shown.
(b) A burst: the app under gunicorn (as deployed), two dispatcher processes, and --burst-rate
(500) callbacks a second for --burst-seconds (60), half joins and half clicks, each sent at its
time over 64 connections. The inbox's pending count is read every second; the burst "grows the
inbox" when the count at its end is above --burst-rate (more than a second's worth waiting) or
its slope over the burst's second half is above 1 % of the rate. The time from each 200 to the
commit of the transaction that handled its row gives p50/p99.

A dispatcher process here polls every 10 ms when it finds nothing (in the app it is woken in
process by the receiver and polls every 5 s); its handled times are taken at each commit (an
after_commit listener on its sessions: dispatch code unchanged).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import threading
import time
from datetime import datetime, timedelta

FORK = multiprocessing.get_context("fork")
DEPARTMENT, ISSUER = 2, "bench_issuer"
OUTSIDER_EVERY = 100  # 1 %


def person(i: int) -> str:
    return f"p{i:06d}"


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰"


def real_name(i: int) -> str:
    """A name R2 takes for a real one (2-4 Han characters), so members are judged compliant."""
    return _SURNAMES[i % 20] + _GIVEN[(i // 20) % 30] + _GIVEN[(i // 600) % 30]


def version(group: int, k: int) -> str:
    return f"{group:08x}{k:024x}"


# ---------------------------------------------------------------- seeding


def seed(url: str, settings, people: int, groups: int, now: datetime) -> list[str]:
    """Directory, registered groups, an issued directive taken as delivered; returns its task_ids."""
    from sqlalchemy import insert, select, update

    from wecom_app.db import make_engine, make_sessionmaker
    from wecom_app.directives import issue as directives
    from wecom_app.governance import registry
    from wecom_app.models import Department, DirectiveBatch, DirectiveReceipt, User, UserDepartment

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Department), [dict(id=1, name="企业", parentid=0),
                                              dict(id=DEPARTMENT, name="全体员工", parentid=1)])
            everyone = [ISSUER] + [person(i) for i in range(people)]
            conn.execute(insert(User), [dict(userid=u, name=real_name(n), status=1, main_department=DEPARTMENT,
                                             direct_leader=[], extra={}) for n, u in enumerate(everyone)])
            conn.execute(insert(UserDepartment), [dict(userid=u, department_id=1 if u == ISSUER else DEPARTMENT)
                                                  for u in everyone])
        with sessions.begin() as session:
            for g in range(groups):
                group = registry.register_group(
                    session, settings, kind="customer", chat_id=f"wrBench{g:06d}", name=f"客户交流群{g}",
                    owner=ISSUER, custodian=ISSUER, scope={"departments": [DEPARTMENT]}, allow_external=False,
                    robot_webhook=None, actor="bench", now=now)
                group.member_version = version(g, 0)
            directive = directives.issue(session, settings, title="季度安全检查", body="请在周五前完成自查并确认。",
                                         assignees={"departments": [DEPARTMENT]}, deadline=now + timedelta(days=3),
                                         issuer=ISSUER, now=now, urgent=True)
            directive_id = directive.id
        with sessions.begin() as session:
            batches = session.scalars(select(DirectiveBatch).where(DirectiveBatch.directive_id == directive_id,
                                                                   DirectiveBatch.kind == "card")).all()
            for batch in batches:
                batch.task_id = batch.task_id or f"bench_task_{batch.id}"
            task_ids = [b.task_id for b in batches]
            session.execute(update(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id)
                            .values(status="delivered", delivered_at=now))
        return task_ids
    finally:
        engine.dispose()


def events(corp_id: str, n: int, people: int, groups: int, task_ids: list[str], base_time: int,
           start: int = 0) -> list[bytes]:
    """n events from index `start`: even ones joins, odd ones clicks."""
    out = []
    for i in range(start, start + n):
        j = i // 2
        t = base_time + j // 50
        if i % 2 == 0:
            g, k = j % groups, j // groups
            member = f"wmBenchOutsider{j:08d}" if j % OUTSIDER_EVERY == OUTSIDER_EVERY - 1 else person(j % people)
            xml = (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
                   f"<CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                   f"<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrBench{g:06d}]]></ChatId>"
                   f"<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
                   f"<JoinScene>0</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>1</MemChangeCnt>"
                   f"<MemChangeList><Item>{member}</Item></MemChangeList>"
                   f"<LastMemVer>{version(g, k)}</LastMemVer><CurMemVer>{version(g, k + 1)}</CurMemVer></xml>")
        else:
            u = j % people
            xml = (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{person(u)}]]>"
                   f"</FromUserName><CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                   f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[ack]]></EventKey>"
                   f"<TaskId><![CDATA[{task_ids[u * len(task_ids) // people]}]]></TaskId>"
                   f"<CardType><![CDATA[button_interaction]]></CardType>"
                   f"<ResponseCode><![CDATA[rc{i:012d}]]></ResponseCode><AgentID>1000002</AgentID></xml>")
        out.append(xml.encode())
    return out


def load_inbox(url: str, xmls: list[bytes], now: datetime) -> None:
    """Store events as the receiver does (inbox_values), in bulk."""
    from sqlalchemy import insert

    from wecom_app.callbacks.events import parse_event
    from wecom_app.callbacks.receiver import inbox_values
    from wecom_app.db import make_engine
    from wecom_app.models import InboxEvent

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            rows = [inbox_values("app", parse_event(x.decode()), x.decode(), now) for x in xmls]
            for start in range(0, len(rows), 2000):
                conn.execute(insert(InboxEvent), rows[start:start + 2000])
    finally:
        engine.dispose()


def pending(engine, *, due: bool = False) -> int:
    """Inbox rows pending; with `due`, only those due now (not put off after a failed attempt)."""
    from sqlalchemy import text

    sql = "SELECT count(*) FROM inbox_event WHERE status = 'pending'"
    if due:  # next_attempt_at is naive UTC (UTCDateTime)
        sql += " AND next_attempt_at <= (now() AT TIME ZONE 'UTC')"
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


# ---------------------------------------------------------------- dispatcher processes


def _dispatcher_main(env: dict, ready, go, stop, pipe) -> None:
    os.environ.update(env)
    from sqlalchemy import event

    from handlers import router
    from wecom_app.callbacks.dispatcher import BATCH, dispatch_pending
    from wecom_app.config import load_settings
    from wecom_app.db import make_engine, make_sessionmaker, utcnow
    from wecom_app.models import InboxEvent

    settings = load_settings()
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    handled: dict[int, float] = {}
    in_flight: list[int] = []
    outcomes: dict[str, int] = {}

    @event.listens_for(sessions, "before_commit")
    def _collect(session):
        in_flight[:] = [o.id for o in session.identity_map.values()
                        if isinstance(o, InboxEvent) and o.status != "pending"]

    @event.listens_for(sessions, "after_commit")
    def _stamp(session):
        at = time.time()
        for inbox_id in in_flight:
            handled.setdefault(inbox_id, at)
        in_flight.clear()

    import logging

    logging.getLogger().setLevel(logging.WARNING)  # a line per click is the handlers' own INFO
    # a handler that fails (a deadlock between two dispatchers) is retried later: counted, not printed
    logging.getLogger("wecom.dispatch").setLevel(logging.CRITICAL)
    ready.set()
    go.wait()
    cpu0 = sum(os.times()[:2])
    while not stop.is_set():
        # one batch (one transaction, as dispatch_pending commits them) a call: the stop is seen in time
        stats = dispatch_pending(sessions, router, settings, utcnow(), limit=BATCH)
        for name in ("done", "ignored", "retried", "parked"):
            outcomes[name] = outcomes.get(name, 0) + getattr(stats, name)
        if not stats.total:
            time.sleep(0.01)
    pipe.send({"handled": handled, "outcomes": outcomes, "cpu": sum(os.times()[:2]) - cpu0})
    engine.dispose()


@contextlib.contextmanager
def dispatchers(count: int, env: dict):
    """`count` dispatcher processes, started together; yields a function that stops them and
    returns their reports."""
    ready, go, stop = [FORK.Event() for _ in range(count)], FORK.Event(), FORK.Event()
    pipes, procs = [], []
    for i in range(count):
        reader, writer = FORK.Pipe(duplex=False)
        proc = FORK.Process(target=_dispatcher_main, args=(env, ready[i], go, stop, writer), daemon=True)
        proc.start()
        pipes.append(reader)
        procs.append(proc)
    reports: list[dict] = []

    def finish() -> list[dict]:
        """Stop them; their reports."""
        stop.set()
        for reader in pipes:
            if reader.poll(120):
                reports.append(reader.recv())
        return reports

    try:
        for event in ready:
            if not event.wait(60):
                raise RuntimeError("a dispatcher process did not start")
        go.set()
        finish.pids = [proc.pid for proc in procs]
        yield finish
    finally:
        stop.set()
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()


def throughput(url: str, env: dict, xmls: list[bytes], count: int, now: datetime, profile: bool = False,
               max_seconds: float = 120.0) -> dict:
    from bench import _profile
    from wecom_app.db import make_engine

    load_inbox(url, xmls, now)
    engine = make_engine(url)
    try:
        with dispatchers(count, env) as finish:
            with (_profile.sampling(finish.pids[0], f"dispatch-{count}", settle=0) if profile
                  else contextlib.nullcontext()) as path:
                started = time.perf_counter()
                while pending(engine, due=True) and time.perf_counter() - started < max_seconds:
                    time.sleep(0.2)
                elapsed = time.perf_counter() - started
            reports = finish()
            deferred = pending(engine)  # not judged: put off after a failure, or not reached in time
        if path is not None and path.exists():
            print(_profile.summarise(path))
    finally:
        engine.dispose()
    outcomes: dict[str, int] = {}
    for report in reports:
        for name, value in report["outcomes"].items():
            outcomes[name] = outcomes.get(name, 0) + value
    cpu = sum(r["cpu"] for r in reports)
    # a row whose handler failed (two dispatchers deadlocking) waits for its backoff: not judged yet
    return {"rate": (len(xmls) - deferred) / elapsed, "elapsed": elapsed, "outcomes": outcomes,
            "deferred": deferred, "cpu_per_event": cpu / max(1, len(xmls) - deferred)}


# ---------------------------------------------------------------- the burst


def paced(port: int, requests: list[bytes], rate: float, connections: int = 64) -> list[float]:
    """Send request i at start + i/rate (or as soon as a connection is free after it); returns
    the wall time (time.time()) each 200 arrived, NaN for any other answer or none."""
    answered = [float("nan")] * len(requests)
    start = time.perf_counter() + 0.5
    offset = time.time() - time.perf_counter()

    def worker(first: int) -> None:
        sock = None
        for i in range(first, len(requests), connections):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            for _attempt in range(2):
                try:
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.sendall(requests[i])
                    head = b""
                    while b"\r\n\r\n" not in head:
                        part = sock.recv(4096)
                        if not part:
                            raise ConnectionError("closed")
                        head += part
                    if head.startswith(b"HTTP/1.1 200"):
                        answered[i] = time.perf_counter() + offset
                    if b"connection: close" in head.lower():
                        sock.close()
                        sock = None
                    break
                except OSError:
                    if sock is not None:
                        sock.close()
                    sock = None
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope (events per second) of pending over time."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx, my = sum(t for t, _ in points) / n, sum(p for _, p in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (p - my) for t, p in points) / var if var else 0.0
