"""WeCom callback cryptography (document/path/90968, 90930).

Written on `cryptography` directly rather than wechatpy's WeChatCrypto, which
compares signatures with `!=`, does not range-check the padding byte and fails
with a zoo of exceptions (shared/wechatpy-notes.md). Here every failure is a
`CryptoError` with a short reason used in logs and metrics; the tests check
this module against WeCom's published vectors and against wechatpy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import string
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 32  # WeCom pads PKCS#7-style to 32 bytes, not AES's 16
_RANDOM_ALPHABET = (string.ascii_letters + string.digits).encode()


class CryptoError(Exception):
    """A callback that fails verification or decryption; `reason` is a metric label."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, str(timestamp), str(nonce), encrypted])).encode()).hexdigest()


class WeComCrypto:
    def __init__(self, token: str, aes_key: str, receive_id: str):
        key = base64.b64decode(aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.receive_id = receive_id
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return f"WeComCrypto(receive_id={self.receive_id!r})"

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").encode()):
            raise CryptoError("bad_signature")

    def decrypt(self, encrypted: str) -> bytes:
        """Base64 ciphertext → the message bytes, with the receive id checked."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("bad_base64") from None
        if not data or len(data) % 16:
            raise CryptoError("bad_length")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad_padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise CryptoError("bad_length")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError("bad_length")
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise CryptoError("wrong_receive_id")
        return message

    def encrypt(self, message: bytes, random16: bytes | None = None) -> str:
        if random16 is None:
            random16 = bytes(_RANDOM_ALPHABET[b % len(_RANDOM_ALPHABET)] for b in os.urandom(16))
        raw = random16 + struct.pack(">I", len(message)) + message + self.receive_id.encode()
        pad = _BLOCK - len(raw) % _BLOCK
        raw += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode()

    def encrypt_reply(self, reply_xml: str, timestamp: str, nonce: str) -> str:
        """The passive-reply envelope of document/path/90241."""
        encrypted = self.encrypt(reply_xml.encode())
        sig = signature(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
