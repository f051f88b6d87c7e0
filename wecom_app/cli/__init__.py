"""The `wecom-app` command line (DESIGN.md §3).

Every command that needs settings reads them from the environment (or `.env`)
and stops with one line per bad variable. Secrets are never printed.
"""

from __future__ import annotations

from datetime import date, datetime

import click
from sqlalchemy import select

from wecom_app.cli.groups import groups_group
from wecom_app.cli.ledger import ledger_group
from wecom_app.cli.runtime import make_runtime, read_settings
from wecom_app.cli.sync import sync_command
from wecom_app.cli.tokens import api_token


def _latest(model, status: str, limit: int) -> list:
    """The newest rows of an inbox/outbox-like table with the given status."""
    runtime = make_runtime()
    with runtime.sessions() as session:
        query = select(model).where(model.status == status).order_by(model.id.desc()).limit(limit)
        return session.scalars(query).all()


def _queue_again(requeue, what: str, refusal: str) -> None:
    runtime = make_runtime()
    try:
        with runtime.sessions.begin() as session:
            if not requeue(session, runtime.clock()):
                raise LookupError(refusal)
    except (LookupError, ValueError):
        raise click.ClickException(f"{what} {refusal}") from None
    finally:
        runtime.engine.dispose()
    click.echo(f"{what} queued again")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """wecom-app: WeCom group-chat rules, directives and receipts."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--no-scheduler", is_flag=True, help="web only; run `wecom-app scheduler` elsewhere")
def serve(host, port, workers, threads, no_scheduler):
    """Serve the web app (with the scheduler unless --no-scheduler) under gunicorn."""
    from wecom_app.cli.serving import serve_gunicorn

    runtime = make_runtime()
    serve_gunicorn(runtime, host=host, port=port, workers=workers, threads=threads, scheduler=not no_scheduler)


@main.command()
def scheduler():
    """Run the dispatcher and the scheduled jobs only (no web)."""
    import signal
    import threading

    from wecom_app.callbacks.spool import replay_at_start
    from wecom_app.scheduler import Worker

    runtime = make_runtime()
    replay_at_start(runtime)  # callbacks an earlier process spooled (the web processes do this in create_app)
    worker = Worker(runtime)
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    worker.shutdown()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--database", default="instance/sandbox.db", show_default=True, help="SQLite file")
def sandbox(host, port, database):
    """Run everything against the built-in WeCom emulator with a seeded demo company."""
    from wecom_app.sandbox.run import run_sandbox

    run_sandbox(host=host, port=port, database=database)


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply Alembic migrations up to the code's head revision."""
    from wecom_app.db import upgrade

    settings = read_settings()
    upgrade(settings.database_url)
    click.echo("database is at the head revision")


@db.command("new-task-prefix")
def db_new_task_prefix():
    """Give this installation a new template card task_id prefix: run it after restoring a
    backup, so that new cards never repeat a task_id WeCom has seen (42014, document 90236)."""
    from wecom_app.audit import audit
    from wecom_app.wecom.task_ids import rotate

    runtime = make_runtime()
    try:
        with runtime.sessions.begin() as session:
            old, new = rotate(session)
            audit(session, "cli", "task_prefix.rotate", "app_instance:1", now=runtime.clock(), old=old, new=new)
    finally:
        runtime.engine.dispose()
    click.echo(f"task_id prefix {old or '(none yet)'} → {new}")


@main.group()
def jobs():
    """Scheduled jobs."""


@jobs.command("list")
def jobs_list():
    from jobs import JOBS

    for job in JOBS:
        click.echo(f"{job.name:<12} every {job.every:>5}s  {job.doc}")


@jobs.command("run")
@click.argument("name")
def jobs_run(name):
    """Run one job once, now."""
    from jobs import BY_NAME
    from wecom_app.scheduler import run_job

    if name not in BY_NAME:
        raise click.BadParameter(f"unknown job {name!r}; known: {', '.join(BY_NAME)}", param_hint="NAME")
    result = run_job(name, make_runtime())
    click.echo(f"{name}: {result}")


@main.group()
def inbox():
    """Stored callbacks: see parked ones, put them back in the queue."""


@inbox.command("list")
@click.option("--status", type=click.Choice(["pending", "done", "ignored", "parked"]), default="parked",
              show_default=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def inbox_list(status, limit):
    from wecom_app.models import InboxEvent

    rows = _latest(InboxEvent, status, limit)
    if not rows:
        click.echo(f"no {status} events")
    for row in rows:
        what = row.event or row.msg_type
        detail = f"/{row.change_type}" if row.change_type else ""
        error = f"  {row.last_error}" if row.last_error else ""
        click.echo(f"{row.id:>8}  {row.received_at:%Y-%m-%d %H:%M:%S}Z  {what}{detail}  attempts={row.attempts}{error}")


@inbox.command("retry")
@click.argument("inbox_id", type=int)
def inbox_retry(inbox_id):
    """Put a parked event back in the queue."""
    from wecom_app.callbacks.dispatcher import requeue

    _queue_again(lambda session, now: requeue(session, inbox_id, now),
                 f"inbox event {inbox_id}", "does not exist or is not parked")


@main.group()
def outbox():
    """Outgoing WeCom calls: see failed ones, send them again."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "cancelled"]),
              default="failed", show_default=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def outbox_list(status, limit):
    from wecom_app.models import OutboxAction

    rows = _latest(OutboxAction, status, limit)
    if not rows:
        click.echo(f"no {status} actions")
    for row in rows:
        error = f"  errcode={row.errcode} {row.errmsg or ''}" if row.errcode is not None or row.errmsg else ""
        click.echo(f"{row.id:>8}  {row.created_at:%Y-%m-%d %H:%M:%S}Z  {row.kind}  {row.idempotency_key}"
                   f"  attempts={row.attempts}{error}")


@outbox.command("retry")
@click.argument("action_id", required=False)
@click.option("--all-failed", is_flag=True, help="every failed action (with --since: created since then)")
@click.option("--since", metavar="DATE", help="with --all-failed: only actions created on or after DATE "
              "(YYYY-MM-DD or YYYY-MM-DDTHH:MM, in TIMEZONE)")
def outbox_retry(action_id, all_failed, since):
    """Send a failed action again (ID), or every failed one (--all-failed [--since DATE]),
    e.g. after WeCom came back from an outage longer than OUTBOX_GIVE_UP_AFTER."""
    from wecom_app.audit import audit
    from wecom_app.wecom.outbox import retry_all_failed, retry_failed

    if since is not None and not all_failed:
        raise click.UsageError("--since goes with --all-failed")
    if all_failed and action_id is not None:
        raise click.UsageError("give an action ID or --all-failed, not both")
    if not all_failed and action_id is None:
        raise click.UsageError("give an action ID or --all-failed")
    if action_id is not None:
        if not action_id.isdigit():
            raise click.UsageError(f"action ID must be a number, not {action_id!r}")
        action = int(action_id)

        def requeue(session, now):
            row = retry_failed(session, action, now=now)
            audit(session, "cli", "outbox.retry", f"outbox_action:{row.id}", now=now, kind=row.kind,
                  errcode=row.errcode, errmsg=row.errmsg)
            return row

        _queue_again(requeue, f"outbox action {action}", "does not exist or has not failed")
        return
    settings = read_settings()
    start = _since(since, settings.tz) if since else None
    runtime = make_runtime()
    now = runtime.clock()
    try:
        with runtime.sessions.begin() as session:
            ids = retry_all_failed(session, since=start, now=now)
            if ids:
                audit(session, "cli", "outbox.retry_all_failed", "outbox", now=now, count=len(ids), ids=ids[:1000],
                      since=start.isoformat() if start else None)
    finally:
        runtime.engine.dispose()
    scope = f" created since {start.astimezone(runtime.settings.tz):%Y-%m-%d %H:%M}" if start else ""
    if not ids:
        click.echo(f"no failed actions{scope}")
        return
    shown = ", ".join(map(str, ids[:20])) + (f" … (+{len(ids) - 20})" if len(ids) > 20 else "")
    click.echo(f"{len(ids)} failed action(s){scope} queued again: {shown}")


def _since(value: str, tz):
    """--since: a date or a local date and time, in the company's time zone."""
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)",
                             param_hint="--since")


@main.group()
def calendar():
    """Working-day overrides for holidays and 调休 that chinese-calendar does not know yet."""


@calendar.command("set")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
@click.argument("kind", type=click.Choice(["workday", "holiday"]))
@click.option("--note", default="", help="e.g. 春节")
@click.option("--by", "set_by", default="cli", help="who decided (for the record)")
def calendar_set(day, kind, note, set_by):
    from wecom_app.workcal import set_override

    runtime = make_runtime()
    with runtime.sessions.begin() as session:
        set_override(session, day.date(), workday=kind == "workday", note=note, actor=set_by, now=runtime.clock(),
                     channel="cli")
    click.echo(f"{day:%Y-%m-%d} is a {kind}")


@calendar.command("unset")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
def calendar_unset(day):
    from wecom_app.workcal import unset_override

    runtime = make_runtime()
    with runtime.sessions.begin() as session:
        if not unset_override(session, day.date(), actor="cli", now=runtime.clock(), channel="cli"):
            raise click.ClickException(f"no override for {day:%Y-%m-%d}")
    click.echo(f"{day:%Y-%m-%d} follows the calendar again")


@calendar.command("list")
@click.option("--year", type=click.IntRange(2000, 2100), default=None)
def calendar_list(year):
    from wecom_app.models import CalendarOverride

    runtime = make_runtime()
    query = select(CalendarOverride).order_by(CalendarOverride.day)
    if year:
        query = query.where(CalendarOverride.day.between(date(year, 1, 1), date(year, 12, 31)))
    with runtime.sessions() as session:
        rows = session.scalars(query).all()
    if not rows:
        click.echo("no overrides")
    for row in rows:
        click.echo(f"{row.day:%Y-%m-%d}  {'workday' if row.workday else 'holiday'}  {row.note}  (by {row.set_by})")


main.add_command(api_token)  # `wecom-app api-token`
main.add_command(ledger_group)  # `wecom-app ledger`
main.add_command(sync_command)  # `wecom-app sync`
main.add_command(groups_group)  # `wecom-app groups import`

if __name__ == "__main__":  # pragma: no cover
    main()
