"""Benchmark of the reconciliation pass (issue 3 item 10): N managed groups × M members
against the WeCom emulator over loopback HTTP, one pass with no changes and one with
1% of the groups drifted (in each: a stranger added in the client, a member who left,
the group renamed). Printed per pass: wall time, WeCom calls by API, write calls
(must be 0 without changes), outbox rows queued, and our own CPU time
(`time.process_time` of this process: the client, the diff and the database, on
SQLite) as a share of the pass.

The emulator runs in a child process, so its CPU is not counted as ours. WeCom's
own answer time is simulated with the emulator's `latency` fault (default 30 ms a
call, what appchat/get takes from a server in mainland China on a good day); the
same passes are also run with no added latency, where our share is naturally high
(the emulator on the same machine answers in about a millisecond).

    .venv/bin/python -m bench.reconcile [--groups 1000] [--members 500] [--latency 0.03]
                                        [--drift 0.01] [--database-url postgresql://...]

Both database and emulator are seeded directly (bulk inserts, dicts), not through
the API; a default run takes about a minute.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

WRITES = ("appchat/create", "appchat/update", "appchat/send", "message/send")
CORP_ID, AGENT_ID, SECRET = "wwbenchreconcile00", 1000002, "bench-secret-0123456789"
FAMILY, GIVEN = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
DEPARTMENTS = 4  # each group's scope is one department; its members are that department's people


def people(members: int) -> list[tuple[str, str, int]]:
    """(userid, real name, department) for every department; a few extra per department for drift."""
    rows = []
    for dept in range(DEPARTMENTS):
        for i in range(members + 20):
            n = dept * 100000 + i
            name = FAMILY[n % 20] + GIVEN[(n // 20) % 20] + GIVEN[(n // 400) % 20]
            rows.append((f"u{dept}x{i:05d}", name, 10 + dept))
    return rows


def chat_id(i: int) -> str:
    return f"benchchat{i:06d}"


# -- the emulator, in its own process -------------------------------------------------------


def emulator_main(conn, groups: int, members: int) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    from wecom_app.sandbox import create_emulator, make_sandbox

    class Quiet(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as WeCom's servers do

        def log_request(self, *args, **kwargs):
            pass

    state = make_sandbox(CORP_ID, AGENT_ID, SECRET, seed=False)
    state.group_size_limit = 2000  # groups of --members (500): the console set to WeCom's ceiling
    for dept in range(DEPARTMENTS):
        state.add_department(10 + dept, f"部门{dept}", 1)
    for userid, name, dept in people(members):
        state.add_user(userid, name, [dept])
    for i in range(groups):
        dept = i % DEPARTMENTS
        userlist = [f"u{dept}x{j:05d}" for j in range(members)]
        state.appchats[chat_id(i)] = dict(chatid=chat_id(i), name=f"部门{dept}-第{i}群", owner=userlist[0],
                                          userlist=userlist, chat_type=0, agentid=AGENT_ID)
    server = make_server("127.0.0.1", 0, create_emulator(state), threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_port)
    while True:
        command, arg = conn.recv()
        if command == "stop":
            server.shutdown()
            return
        if command == "latency":
            state.faults.clear()
            if arg:
                state.faults.add(None, "latency", count=None, seconds=arg)
            state.faults.call_log.clear()
            conn.send(None)
        elif command == "calls":
            conn.send(Counter(c["path"] for c in state.calls()))
            state.faults.call_log.clear()
        elif command == "drift":
            conn.send(drift(state, groups, members, arg))


def drift(state, groups: int, members: int, share: float) -> int:
    """In `share` of the groups: a stranger from another department added, a member gone, a new name."""
    step = max(1, round(1 / share))
    drifted = 0
    with state.lock:
        for i in range(0, groups, step):
            chat, dept = state.appchats[chat_id(i)], i % DEPARTMENTS
            chat["userlist"].append(f"u{(dept + 1) % DEPARTMENTS}x{members + 1:05d}")
            chat["userlist"].remove(f"u{dept}x{members - 1:05d}")
            chat["name"] = f"改名{i}"
            drifted += 1
    return drifted


# -- the database -------------------------------------------------------------------------


def seed_database(url: str, groups: int, members: int) -> None:
    from sqlalchemy import insert

    from wecom_app.db import make_engine, upgrade
    from wecom_app.models import Department, Group, GroupMember, User, UserDepartment

    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    everyone = people(members)
    with engine.begin() as conn:
        conn.execute(insert(Department), [dict(id=1, name="总部", parentid=0)] + [
            dict(id=10 + d, name=f"部门{d}", parentid=1) for d in range(DEPARTMENTS)])
        conn.execute(insert(User), [dict(userid=u, name=n, status=1, main_department=d, direct_leader=[], extra={})
                                    for u, n, d in everyone])
        conn.execute(insert(UserDepartment), [dict(userid=u, department_id=d) for u, _n, d in everyone])
        for i in range(groups):
            dept = i % DEPARTMENTS
            userlist = [f"u{dept}x{j:05d}" for j in range(members)]
            conn.execute(insert(Group), [dict(
                id=i + 1, kind="managed", chat_id=chat_id(i), name=f"部门{dept}-第{i}群", owner=userlist[0],
                custodian=userlist[1], scope={"departments": [10 + dept], "tags": [], "users": [], "exclude": []},
                allow_external=False, join_policy="auto", status="active", created_by="bench", created_at=now,
                registered_at=now)])
            conn.execute(insert(GroupMember), [dict(group_id=i + 1, member_id=u, member_type=1, state="present",
                                                    compliance="ok", group_nickname="") for u in userlist])
    engine.dispose()


# -- the passes -----------------------------------------------------------------------------


def measure(label, conn, sessions, client, settings, budget) -> dict:
    from sqlalchemy import func, select

    from wecom_app.governance.reconcile import reconcile
    from wecom_app.models import OutboxAction

    with sessions() as session:
        rows_before = session.scalar(select(func.count()).select_from(OutboxAction))
    timed = _TimedClient(client)
    wall, cpu = time.perf_counter(), time.process_time()
    counts = reconcile(sessions, timed, settings, datetime.now(timezone.utc), budget=budget)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    conn.send(("calls", None))
    calls = conn.recv()
    with sessions() as session:
        rows = session.scalar(select(func.count()).select_from(OutboxAction)) - rows_before
    writes = sum(calls[w] for w in WRITES)
    print(f"{label:<34} wall {wall:7.2f}s  our CPU {cpu:6.2f}s ({100 * cpu / wall:4.1f}% of the pass; "
          f"client {timed.cpu:.2f}s, the rest {cpu - timed.cpu:.2f}s)  calls {dict(sorted(calls.items()))}  "
          f"write calls {writes}  outbox rows {rows}")
    print(f"{'':<34} {counts.summary()}")
    return dict(wall=wall, cpu=cpu, calls=calls, writes=writes, rows=rows)


class _TimedClient:
    """The WeCom client, with the CPU time spent inside its reads added up (HTTP, JSON, token)."""

    def __init__(self, client):
        self.client, self.cpu = client, 0.0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def appchat_get(self, chatid):
        start = time.process_time()
        try:
            return self.client.appchat_get(chatid)
        finally:
            self.cpu += time.process_time() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds added to every WeCom call")
    parser.add_argument("--drift", type=float, default=0.01, help="share of the groups drifted")
    parser.add_argument("--database-url", help="an EMPTY database to migrate and fill (default: SQLite in a temp dir)")
    args = parser.parse_args(argv)

    from wecom_app.config import Settings
    from wecom_app.db import make_engine, make_sessionmaker
    from wecom_app.governance.reconcile import reconcile
    from wecom_app.wecom.client import WeComClient

    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=emulator_main, args=(child, args.groups, args.members), daemon=True)
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        started = time.perf_counter()
        process.start()
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        seed_database(url, args.groups, args.members)
        port = parent.recv()
        print(f"seeded {args.groups} groups × {args.members} members in {time.perf_counter() - started:.1f}s "
              f"(database {url.split('@')[-1]}, emulator 127.0.0.1:{port} in pid {process.pid})")
        settings = Settings(corp_id=CORP_ID, agent_id=AGENT_ID, secret=SECRET, token="b" * 32, aes_key="a" * 43,
                            secret_key="bench-only", api_base=f"http://127.0.0.1:{port}/cgi-bin/",
                            database_url=url, sandbox=True, wecom_timeout=10, group_size_limit=2000)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        client = WeComClient(settings, sessions)
        try:
            client.access_token()
            for latency in dict.fromkeys([args.latency, 0.0]):
                parent.send(("latency", latency))
                parent.recv()
                tag = f"latency {latency * 1000:.0f} ms"
                result = measure(f"no change, {tag}", parent, sessions, client, settings, args.groups)
                assert result["writes"] == 0 and result["rows"] == 0, "a no-change pass made write calls"
                parent.send(("drift", args.drift))
                drifted = parent.recv()
                measure(f"{drifted} groups drifted, {tag}", parent, sessions, client, settings, args.groups)
                parent.send(("latency", 0))  # the outbox sends the fixes, untimed
                parent.recv()
                _settle(sessions, client, settings)
                if latency:  # the pass that records them (no write calls either), untimed to keep the run short
                    reconcile(sessions, client, settings, datetime.now(timezone.utc), budget=args.groups)
                    parent.send(("calls", None))
                    parent.recv()
                else:
                    parent.send(("latency", 0))  # (and forgets those calls)
                    parent.recv()
                    measure(f"after the fixes, {tag}", parent, sessions, client, settings, args.groups)
        finally:
            client.close()
            engine.dispose()
            parent.send(("stop", None))
            process.join(timeout=5)


def _settle(sessions, client, settings) -> None:
    """Send what the drifted pass queued (untimed), as the outbox job would."""
    from wecom_app.wecom import outbox
    from wecom_app.workcal import WorkCalendar

    outbox.send_due(sessions, client, settings, WorkCalendar(settings), datetime.now(timezone.utc))


if __name__ == "__main__":
    main()
