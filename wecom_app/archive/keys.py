"""The company's RSA private keys for the conversation archive, by `publickey_ver`.

The company uploads an RSA public key in the admin console (管理工具 → 会话内容存档);
WeCom numbers each upload (`publickey_ver`) and encrypts every archived record's random
key with the public key current when the message was archived: `encrypt_random_key` is
base64 of that RSA PKCS#1 v1.5 ciphertext (document/path/91774). The app decrypts it
with the matching private key and hands the result to DecryptData.

`WECOM_ARCHIVE_PRIVATE_KEYS` names either a directory of `<publickey_ver>.pem` files (one
per version ever uploaded: records are keyed by the version they were archived under),
or one PEM file: named `<publickey_ver>.pem` it serves that version only, otherwise it is
tried for every version (a company that never rotated its key).

Neither a key nor a decrypted random key is ever put in a log line or an exception text.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ANY_VERSION = 0  # the key of a single PEM file not named after a version
_VERSION_FILE = re.compile(r"([1-9]\d{0,8})\.pem")
MAX_KEY_FILE = 64 * 1024


class ArchiveKeyError(Exception):
    """A record's random key cannot be decrypted; the record stays encrypted."""


class UnknownKeyVersion(ArchiveKeyError):
    """No private key for this `publickey_ver`: the caller keeps the record encrypted and
    says which version to add (a key uploaded and not given to the app, or lost)."""

    def __init__(self, version: int):
        self.version = version
        super().__init__(f"no private key for publickey_ver {version} in WECOM_ARCHIVE_PRIVATE_KEYS")


class RandomKeyError(ArchiveKeyError):
    """`encrypt_random_key` is not base64 of a ciphertext our key decrypts (corrupted, or
    encrypted under a key the file misnames)."""


class KeyFileError(Exception):
    """WECOM_ARCHIVE_PRIVATE_KEYS is unusable: `problems` holds one line per bad file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class PrivateKeys:
    """Private keys by version; `decrypt_random_key(ver, b64)` → the key DecryptData takes."""

    def __init__(self, keys: dict[int, rsa.RSAPrivateKey]):
        self._keys = dict(keys)

    def __repr__(self) -> str:
        return f"PrivateKeys(versions={self.versions})"

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def key_for(self, version: int) -> rsa.RSAPrivateKey:
        key = self._keys.get(version) or self._keys.get(ANY_VERSION)
        if key is None:
            raise UnknownKeyVersion(version)
        return key

    def decrypt_random_key(self, version: int, encrypt_random_key: str) -> str:
        key = self.key_for(version)
        try:
            ciphertext = base64.b64decode(encrypt_random_key, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise RandomKeyError("encrypt_random_key is not base64") from None
        if len(ciphertext) != key.key_size // 8:
            raise RandomKeyError(f"encrypt_random_key is {len(ciphertext)} bytes, not one {key.key_size}-bit RSA block")
        try:
            plain = key.decrypt(ciphertext, padding.PKCS1v15())
        except ValueError:
            raise RandomKeyError("encrypt_random_key does not decrypt with the key of its publickey_ver") from None
        # OpenSSL 3.2+ answers a bad PKCS#1 v1.5 block with random bytes instead of an error
        # ("implicit rejection"): the random keys WeCom's SDK samples show are printable
        # ASCII, so anything else is a corrupted record (DecryptData would refuse it anyway).
        try:
            text = plain.decode("ascii")
        except UnicodeDecodeError:
            raise RandomKeyError("encrypt_random_key does not decrypt to a random key") from None
        if not text or not text.isprintable():
            raise RandomKeyError("encrypt_random_key does not decrypt to a random key")
        return text


def load_private_keys(path: str | Path) -> PrivateKeys:
    """The keys named by WECOM_ARCHIVE_PRIVATE_KEYS; KeyFileError lists every bad file."""
    path = Path(path)
    problems: list[str] = []
    keys: dict[int, rsa.RSAPrivateKey] = {}
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".pem")
        if not files:
            problems.append(f"WECOM_ARCHIVE_PRIVATE_KEYS: {path} holds no <publickey_ver>.pem file")
        for file in files:
            match = _VERSION_FILE.fullmatch(file.name)
            if not match:
                problems.append(f"WECOM_ARCHIVE_PRIVATE_KEYS: {file} is not named <publickey_ver>.pem (e.g. 1.pem)")
                continue
            _load(file, int(match.group(1)), keys, problems)
    elif path.is_file():
        match = _VERSION_FILE.fullmatch(path.name)
        _load(path, int(match.group(1)) if match else ANY_VERSION, keys, problems)
    else:
        problems.append(f"WECOM_ARCHIVE_PRIVATE_KEYS: no file or directory at {path}")
    if problems:
        raise KeyFileError(problems)
    return PrivateKeys(keys)


def _load(file: Path, version: int, keys: dict, problems: list[str]) -> None:
    where = f"WECOM_ARCHIVE_PRIVATE_KEYS: {file}"
    try:
        data = file.read_bytes()[:MAX_KEY_FILE + 1]
    except OSError as exc:
        problems.append(f"{where} cannot be read ({exc.strerror or type(exc).__name__})")
        return
    if len(data) > MAX_KEY_FILE:
        problems.append(f"{where} is larger than a PEM key ({MAX_KEY_FILE} bytes at most)")
        return
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        problems.append(f"{where} is encrypted with a passphrase; give the app an unencrypted key file readable only by it")
        return
    except Exception:  # ValueError, or cryptography's UnsupportedAlgorithm for an unknown key type
        problems.append(f"{where} is not a PEM private key (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)")
        return
    if not isinstance(key, rsa.RSAPrivateKey):
        problems.append(f"{where} is not an RSA private key (WeCom's archive keys are RSA)")
        return
    keys[version] = key
