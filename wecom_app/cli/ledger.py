"""`wecom-app ledger verify [--head HASH]`: check the evidence chain (R16, ledger.py).

Exit 0 with `ledger OK: N rows, head <hash>`; exit 1 naming the first row that was
altered, inserted or deleted, or saying that the chain no longer passes through the
head given with --head (the one printed on an earlier receipt sheet, 签收单).
"""

from __future__ import annotations

import re
import sys

import click
from sqlalchemy.orm import Session

from wecom_app.cli.runtime import make_runtime
from wecom_app.directives import ledger

HASH = re.compile(r"[0-9a-f]{64}")


@click.group("ledger")
def ledger_group():
    """The evidence ledger of directives."""


@ledger_group.command("verify")
@click.option("--head", "expect_head", default=None, metavar="HASH",
              help="a chain head printed earlier (e.g. on a receipt sheet): the chain must still contain it")
def verify(expect_head):
    """Recompute every hash of the chain and name the first row that does not fit."""
    if expect_head is not None:
        expect_head = expect_head.strip().lower()
        if not HASH.fullmatch(expect_head):
            raise click.BadParameter("a SHA-256 in hex (64 characters 0-9 a-f)", param_hint="--head")
    runtime = make_runtime()
    try:
        # autocommit: each chunk is its own read, so a long walk never holds SQLite's write lock
        with Session(runtime.autocommit_engine) as session:
            result = ledger.verify(session, expect_head=expect_head)
    finally:
        runtime.engine.dispose()
    seq, head = result.head
    if result.ok:
        click.echo(f"ledger OK: {result.rows} rows, head {head}")
        return
    click.echo(f"ledger BROKEN: {result.problem}", err=True)
    intact = f"intact up to seq {seq}, hash {head}" if seq else "no row before it checks out"
    click.echo(f"checked {result.rows} rows; {intact}", err=True)
    sys.exit(1)
