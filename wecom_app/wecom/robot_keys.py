"""A group robot's key (webhook/send, 99398): a bearer secret, stored encrypted in the
group table (`Group.robot_webhook`, with a key derived from SECRET_KEY) and decrypted only
when the outbox claims a webhook/send row or an announcement is checked before queueing.
No key sits in an outbox payload, a log line or an error."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wecom_app.models import Group


def _fernet(settings) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"wecom-app robot webhook").derive(
        settings.secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_robot_key(settings, key: str) -> str:
    return _fernet(settings).encrypt(key.encode()).decode()


def robot_key(settings, group: Group) -> str | None:
    """The robot's key for webhook/send, or None (no robot, or SECRET_KEY changed since it was stored)."""
    if not group.robot_webhook:
        return None
    try:
        return _fernet(settings).decrypt(group.robot_webhook.encode()).decode()
    except InvalidToken:
        return None
