"""`wecom-app api-token create|list|revoke`: bearer tokens for the REST API.

`create` prints the token alone on the last line of standard output (scripts
take `tail -n1`); it is shown once and only its SHA-256 is stored. A custodian
or issuer token acts as one person (`--userid`), which scopes what it may see.
Names become the audit log's actor (`api:<name>`), so they are short and plain.
"""

from __future__ import annotations

import contextlib
import re

import click
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wecom_app.api_tokens import ROLES, hash_token, new_token
from wecom_app.audit import audit
from wecom_app.cli.runtime import make_runtime
from wecom_app.models import ApiToken, User

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")  # "api:" + name fits audit_entry.actor (64)
USERID = re.compile(r"[a-z0-9_.@-]{1,64}")
PERSONAL_ROLES = ("custodian", "issuer")


@contextlib.contextmanager
def _runtime():
    """The CLI's runtime, its connections closed when the command is done."""
    runtime = make_runtime()
    try:
        yield runtime
    finally:
        runtime.engine.dispose()


@click.group("api-token")
def api_token():
    """REST API tokens: create (shown once), list, revoke."""


@api_token.command("create")
@click.option("--name", required=True, help="unique, e.g. hr-sync (letters, digits, _ . -)")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--userid", default=None, help="the person a custodian or issuer token acts as")
def create(name, role, userid):
    """Create a token and print it once, alone on the last line."""
    if not NAME.fullmatch(name):
        raise click.BadParameter("1-60 letters, digits, _ . - (starting with a letter or digit)", param_hint="--name")
    if role in PERSONAL_ROLES and not userid:
        raise click.BadParameter(f"a {role} token acts as one person: give their --userid", param_hint="--userid")
    if role not in PERSONAL_ROLES and userid:
        raise click.BadParameter(f"--userid applies only to {' and '.join(PERSONAL_ROLES)} tokens",
                                 param_hint="--userid")
    userid = userid.strip().lower() if userid else None
    if userid is not None and not USERID.fullmatch(userid):
        raise click.BadParameter("not a WeCom userid", param_hint="--userid")
    token = new_token()
    try:
        with _runtime() as runtime, runtime.sessions.begin() as session:
            if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
                raise click.ClickException(f"a token named {name!r} already exists (revoked names stay taken)")
            known = userid is None or session.get(User, userid) is not None
            now = runtime.clock()
            session.add(ApiToken(name=name, role=role, userid=userid, token_hash=hash_token(token), created_at=now))
            audit(session, "cli", "api_token.create", f"api_token:{name}", now=now, role=role, userid=userid)
    except IntegrityError:  # created by someone else between our check and our insert
        raise click.ClickException(f"a token named {name!r} already exists") from None
    if not known:
        click.echo(f"wecom-app: warning: {userid!r} is not in the directory mirror (yet?)", err=True)
    acting = f" acting as {userid}" if userid else ""
    click.echo(f"created {role} token {name!r}{acting}; it is shown once, store it now:")
    click.echo(token)


@api_token.command("list")
def list_tokens():
    """Every token's name, role and use (never the token itself)."""
    with _runtime() as runtime, runtime.sessions() as session:
        rows = session.scalars(select(ApiToken).order_by(ApiToken.name)).all()
    if not rows:
        click.echo("no tokens")
    for row in rows:
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}Z" if row.last_used_at else "never"
        state = "revoked" if row.revoked else "active"
        click.echo(f"{row.name:<24} {row.role:<10} {row.userid or '-':<20} {state:<8} "
                   f"created {row.created_at:%Y-%m-%d}  last used {used}")


@api_token.command("revoke")
@click.argument("name")
def revoke(name):
    """Revoke a token at once; its name stays taken (the audit log refers to it)."""
    with _runtime() as runtime, runtime.sessions.begin() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None:
            raise click.ClickException(f"no token named {name!r}")
        if row.revoked:
            click.echo(f"token {name!r} was already revoked")
            return
        row.revoked = True
        audit(session, "cli", "api_token.revoke", f"api_token:{name}", now=runtime.clock())
    click.echo(f"token {name!r} revoked")
