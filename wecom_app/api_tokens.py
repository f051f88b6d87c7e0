"""Bearer tokens for the REST API (`wecom-app api-token create --name N --role R`).

A token is shown once and stored as its SHA-256: a leaked database does not leak
working tokens. Roles: `admin` (the office), `custodian`, `issuer`, `readonly`.
"""

from __future__ import annotations

import hashlib
import secrets

ROLES = ("admin", "custodian", "issuer", "readonly")
PREFIX = "wca_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)
