"""Bearer-token authentication and role checks for `/api/v1`.

`Authorization: Bearer <token>` is hashed (SHA-256) and looked up by its hash:
no comparison ever runs over the secret itself, so response time tells an
attacker nothing about how close a guess was. A missing, unknown or revoked
token is a 401 with `WWW-Authenticate: Bearer`; a role an endpoint does not
take is a 403. `last_used_at` is written at most once a minute per token, so a
busy integration does not turn every read into a write.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from datetime import timedelta

from flask import current_app, g, request
from sqlalchemy import or_, select, update

from wecom_app.api.errors import ApiError
from wecom_app.api_tokens import hash_token
from wecom_app.logs import kv
from wecom_app.models import ApiToken

log = logging.getLogger("wecom.api")
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_TOKEN_LENGTH = 200


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who is calling: the token's name, role and (custodian/issuer) userid."""

    token_id: int
    name: str
    role: str
    userid: str | None

    @property
    def actor(self) -> str:
        return f"api:{self.name}"  # the audit log's `actor`


def runtime():
    return current_app.extensions["wecom"]


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = 'Bearer realm="wecom-app"' + (f', error="{error}"' if error else "")
    return ApiError(401, message, headers={"WWW-Authenticate": challenge})


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise _unauthorized("an Authorization: Bearer <token> header is required")
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise _unauthorized("the Authorization header must be Bearer <token>", "invalid_request")
    return token


def authenticate() -> Caller:
    rt = runtime()
    digest = hash_token(_bearer())
    now = rt.clock()
    with rt.sessions.begin() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        if row is None or row.revoked:
            log.warning(kv("wecom.api.unauthorized", reason="revoked" if row else "unknown_token",
                           remote=request.remote_addr))
            raise _unauthorized("the token is unknown or revoked", "invalid_token")
        caller = Caller(row.id, row.name, row.role, row.userid)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            session.execute(
                update(ApiToken).where(ApiToken.id == row.id)
                .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_RESOLUTION))
                .values(last_used_at=now)
            )
    return caller


def require(*roles: str):
    """Decorator: authenticate, then allow only `roles`; the caller is in `g.caller`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            caller = authenticate()
            if caller.role not in roles:
                log.warning(kv("wecom.api.forbidden", token=caller.name, role=caller.role, path=request.path))
                raise ApiError(403, f"a {caller.role} token may not do this (needs {' or '.join(roles)})")
            g.caller = caller
            return view(*args, **kwargs)

        return wrapper

    return decorate


def caller() -> Caller:
    return g.caller
