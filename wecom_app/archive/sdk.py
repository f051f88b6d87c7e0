"""The Finance SDK of the conversation archive: the `ArchiveSdk` interface, its error
codes as typed errors, and two implementations.

WeCom offers no HTTP API for archived messages, only a C library
(`libWeWorkFinanceSdk_C.so`, document/path/91774, download on 91551) with two calls the
app needs:

- GetChatData(seq, limit, timeout) → `{"errcode", "errmsg", "chatdata": [{"seq", "msgid",
  "publickey_ver", "encrypt_random_key", "encrypt_chat_msg"}]}`, the records after `seq`;
- DecryptData(encrypt_key, encrypt_msg) → the message's JSON text, where `encrypt_key` is
  the record's random key decrypted with the company's private key (keys.py).

Two kinds of failure come back: the library's own return codes 10000-10011 (its header
and 91552), raised as an `SdkError` subclass, and WeCom's server errcodes inside the
answer's JSON (48002 with the app's secret instead of the archive's —
binarywang/WxJava#2833 shows `{"errcode":48002,...,"chatdata":[]}` — 301042 an IP not
whitelisted, 301052 the archive expired), raised as `ArchiveApiError`.

What the real library does, seen in tests/test_archive_sdk.py (the build pywecomarchive
0.1.0 ships): Init checks nothing but empty arguments (10000); GetChatData fetches a token
(`GET /cgi-bin/gettoken?corpid=&corpsecret=`) and swallows its failure — a wrong secret is
10001, like a network failure, with gettoken's answer printed to standard output; it
verifies NO TLS certificate, so any server answering for qyapi.weixin.qq.com receives the
secret (egress must be trusted); it hands WeCom's body back unparsed.

`FinanceSdk` binds the official library with ctypes; `EmulatorSdk` makes the same two
calls over HTTP to the WeCom emulator (DESIGN.md §3; wecom_app.sandbox.emulator.archive.py).
`open_archive_sdk(settings)` picks one from WECOM_FINANCE_SDK. No secret, random key or
message text is ever logged or put in an exception's text.
"""

from __future__ import annotations

import ctypes
import json
import threading
import weakref
from typing import Protocol

import requests

MAX_LIMIT = 1000  # "一次拉取的消息条数，最大值1000条，超过1000条会返回错误" (the SDK's header, 91774)
# DecryptData aborts the whole process (an uncaught C++ std::out_of_range, "__pos (which is 13)")
# when encrypt_msg is shorter than 13 bytes: seen with the library pywecomarchive 0.1.0 ships
# (sha256 79ced4de…3dfd0). Such a message is refused before the call.
MIN_ENCRYPT_MSG = 13


class ArchiveError(Exception):
    """Anything the archive's SDK answered other than data."""


class SdkError(ArchiveError):
    """A Finance SDK return code (10000-10011). `transient`: trying again later may help."""

    code = 0
    meaning = "unknown Finance SDK error"
    transient = False

    def __init__(self, detail: str = ""):
        super().__init__(f"Finance SDK {self.code} {self.meaning}" + (f": {detail}" if detail else ""))


def _sdk_error(code: int, name: str, meaning: str, transient: bool = False) -> type[SdkError]:
    return type(name, (SdkError,), dict(code=code, meaning=meaning, transient=transient, __module__=__name__,
                                        __doc__=f"Finance SDK {code}: {meaning}."))


# The codes and their meanings as WeCom's header (WeWorkFinanceSdk_C.h) and FAQ (91552) list them.
BadParameter = _sdk_error(10000, "BadParameter", "参数错误，请求参数错误 (bad parameter)")
NetworkError = _sdk_error(10001, "NetworkError", "网络错误，网络请求错误 (network error or timeout)", True)
ParseError = _sdk_error(10002, "ParseError", "数据解析失败 (could not parse the data)", True)
SystemFailure = _sdk_error(10003, "SystemFailure", "系统失败 (system call failed)", True)
KeyEncryptError = _sdk_error(10004, "KeyEncryptError", "密钥错误导致加密失败 (deprecated)")
BadFileId = _sdk_error(10005, "BadFileId", "fileid错误 (bad sdkfileid)")
DecryptFailed = _sdk_error(10006, "DecryptFailed", "解密失败 (decryption failed)")
NoPrivateKey = _sdk_error(10007, "NoPrivateKey", "找不到消息加密版本的私钥 (deprecated)")
BadEncryptKey = _sdk_error(10008, "BadEncryptKey", "解析encrypt_key出错 (bad encrypt_key)")
IpNotAllowed = _sdk_error(10009, "IpNotAllowed", "ip非法 (this server's IP is not allowed)")
DataExpired = _sdk_error(10010, "DataExpired", "数据过期 (the data has expired)")
CertificateError = _sdk_error(10011, "CertificateError", "证书错误 (SSL certificate error)", True)
SDK_ERRORS: dict[int, type[SdkError]] = {cls.code: cls for cls in (
    BadParameter, NetworkError, ParseError, SystemFailure, KeyEncryptError, BadFileId, DecryptFailed,
    NoPrivateKey, BadEncryptKey, IpNotAllowed, DataExpired, CertificateError)}


def sdk_error(code: int, detail: str = "") -> SdkError:
    """The typed error for a Finance SDK return code; an unlisted code keeps its number."""
    cls = SDK_ERRORS.get(code)
    if cls is None:
        cls = type("SdkError", (SdkError,), dict(code=code, __module__=__name__))
    return cls(detail)


class ArchiveApiError(ArchiveError):
    """WeCom's server refused GetChatData: `errcode` as in the answer (48002 not the
    archive's secret, 301042 IP not whitelisted, 301052 archive expired)."""

    transient_codes = (-1, 45009, 45033)

    def __init__(self, errcode: int, errmsg: str = ""):
        self.errcode = errcode
        self.transient = errcode in self.transient_codes
        super().__init__(f"WeCom answered GetChatData with errcode {errcode} {errmsg[:200]}".rstrip())


class ArchiveSdk(Protocol):
    def get_chat_data(self, seq: int, limit: int, timeout: int) -> dict:
        """The records after `seq` (at most `limit`, ≤ 1000), as parsed JSON with errcode 0."""

    def decrypt_data(self, encrypt_key: str, encrypt_msg: str) -> str:
        """The message JSON text of one record."""

    def close(self) -> None:
        """Release what the SDK holds."""


def _check_pull(seq: int, limit: int, timeout: int) -> None:
    """What the C types can carry; the SDK itself judges the rest (limit 0 or over 1000 → 10000)."""
    if not isinstance(seq, int) or not 0 <= seq < 2 ** 64:
        raise BadParameter("seq must be an integer ≥ 0")
    if not isinstance(limit, int) or not 0 <= limit < 2 ** 32:
        raise BadParameter("limit must be an integer 1-1000")
    if not isinstance(timeout, int) or not 1 <= timeout < 2 ** 31:
        raise BadParameter("timeout must be a whole number of seconds ≥ 1")


def _check_decrypt(encrypt_key: str, encrypt_msg: str) -> tuple[bytes, bytes]:
    if not isinstance(encrypt_key, str) or not encrypt_key or "\0" in encrypt_key:
        raise BadParameter("encrypt_key must be the decrypted random key")
    if not isinstance(encrypt_msg, str) or len(encrypt_msg) < MIN_ENCRYPT_MSG or "\0" in encrypt_msg:
        raise BadParameter("encrypt_msg is not an encrypt_chat_msg")
    return encrypt_key.encode(), encrypt_msg.encode()


def _parse_chat_data(raw: bytes) -> dict:
    try:
        return _chat_data(json.loads(raw))
    except ValueError:
        raise ParseError("GetChatData's answer is not JSON") from None


def _chat_data(data: object) -> dict:
    if not isinstance(data, dict):
        raise ParseError("GetChatData's answer is not a JSON object")
    errcode = data.get("errcode", 0)
    if errcode:
        raise ArchiveApiError(int(errcode), str(data.get("errmsg", "")))
    if not isinstance(data.get("chatdata", []), list):
        raise ParseError("GetChatData's chatdata is not a list")
    data.setdefault("chatdata", [])
    return data


class _Slice(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("len", ctypes.c_int)]  # typedef struct Slice_t {char *buf; int len;}


_SlicePtr = ctypes.POINTER(_Slice)


class FinanceSdk:
    """The official `libWeWorkFinanceSdk_C.so` through ctypes, one SDK handle per thread.

    Signatures as declared in the SDK's WeWorkFinanceSdk_C.h (shipped with the library on 91551):
    `WeWorkFinanceSdk_t* NewSdk()`, `int Init(WeWorkFinanceSdk_t*, const char* corpid, const char*
    secret)`, `int GetChatData(WeWorkFinanceSdk_t*, unsigned long long seq, unsigned int limit,
    const char* proxy, const char* passwd, int timeout, Slice_t*)`, `int DecryptData(const char*
    encrypt_key, const char* encrypt_msg, Slice_t*)`, `void DestroySdk(WeWorkFinanceSdk_t*)`,
    `Slice_t* NewSlice()`, `void FreeSlice(Slice_t*)`, `char* GetContentFromSlice(Slice_t*)`,
    `int GetSliceLen(Slice_t*)`. ctypes releases the GIL during each call.
    """

    def __init__(self, library: str, corp_id: str, secret: str, *, proxy: str = "", proxy_password: str = ""):
        self.library = str(library)
        self._lib = _bind(ctypes.CDLL(self.library))
        self._corp_id, self._secret = corp_id.encode(), secret.encode()
        self._proxy = proxy.encode() or None
        self._proxy_password = proxy_password.encode() or None
        self._local = threading.local()
        self._finalizers: list[weakref.finalize] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FinanceSdk({self.library!r})"

    @property
    def live_handles(self) -> int:
        with self._lock:
            return sum(f.alive for f in self._finalizers)

    def _sdk(self) -> int:
        """This thread's handle: NewSdk + Init on first use, DestroySdk when the thread ends
        (its threading.local goes) or at close(), whichever comes first."""
        held = getattr(self._local, "held", None)
        if held is None:
            pointer = self._lib.NewSdk()
            if not pointer:
                raise SystemFailure("NewSdk returned NULL")
            ret = self._lib.Init(pointer, self._corp_id, self._secret)
            if ret != 0:
                self._lib.DestroySdk(pointer)
                raise sdk_error(ret, "Init")
            held = _Handle(pointer)
            finalizer = weakref.finalize(held, self._lib.DestroySdk, pointer)  # runs once
            with self._lock:
                self._finalizers = [f for f in self._finalizers if f.alive] + [finalizer]
            self._local.held = held
        return held.pointer

    def _call(self, call) -> bytes:
        """Run `call(slice)` → return code; the slice's bytes, read by length, freed whatever happens."""
        chunk = self._lib.NewSlice()
        if not chunk:
            raise SystemFailure("NewSlice returned NULL")
        try:
            ret = call(chunk)
            if ret != 0:
                raise sdk_error(ret)
            size = self._lib.GetSliceLen(chunk)
            buf = self._lib.GetContentFromSlice(chunk) if size > 0 else None
            return ctypes.string_at(buf, size) if buf else b""
        finally:
            self._lib.FreeSlice(chunk)

    def get_chat_data(self, seq: int, limit: int, timeout: int) -> dict:
        _check_pull(seq, limit, timeout)
        sdk = self._sdk()
        raw = self._call(lambda chunk: self._lib.GetChatData(
            sdk, seq, limit, self._proxy, self._proxy_password, timeout, chunk))
        return _parse_chat_data(raw)

    def decrypt_data(self, encrypt_key: str, encrypt_msg: str) -> str:
        key, msg = _check_decrypt(encrypt_key, encrypt_msg)
        raw = self._call(lambda chunk: self._lib.DecryptData(key, msg, chunk))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("DecryptData's answer is not UTF-8") from None

    def close(self) -> None:
        """DestroySdk every live handle; call once no thread uses this object any more."""
        with self._lock:
            finalizers, self._finalizers = self._finalizers, []
        for finalizer in finalizers:
            finalizer()
        self._local = threading.local()


class _Handle:
    """One thread's WeWorkFinanceSdk_t*, kept in its threading.local."""

    __slots__ = ("pointer", "__weakref__")

    def __init__(self, pointer: int):
        self.pointer = pointer


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    handle, text = ctypes.c_void_p, ctypes.c_char_p
    for name, restype, argtypes in (
        ("NewSdk", handle, []),
        ("Init", ctypes.c_int, [handle, text, text]),
        ("GetChatData", ctypes.c_int, [handle, ctypes.c_ulonglong, ctypes.c_uint, text, text, ctypes.c_int, _SlicePtr]),
        ("DecryptData", ctypes.c_int, [text, text, _SlicePtr]),
        ("DestroySdk", None, [handle]),
        ("NewSlice", _SlicePtr, []),
        ("FreeSlice", None, [_SlicePtr]),
        # char*, read with the length below: c_void_p, so ctypes does not stop at a NUL byte
        ("GetContentFromSlice", ctypes.c_void_p, [_SlicePtr]),
        ("GetSliceLen", ctypes.c_int, [_SlicePtr]),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


class EmulatorSdk:
    """The WeCom emulator's stand-in for the SDK (WECOM_FINANCE_SDK=emulator): the same two
    calls as `POST {api_base}finance/getchatdata` and `finance/decryptdata`, answering the
    SDK's codes 10000-10011 as errcode; a connection failure or timeout is 10001, as the
    library answers it."""

    def __init__(self, api_base: str, corp_id: str, secret: str, *, http: requests.Session | None = None):
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self._corp_id, self._secret = corp_id, secret
        self._http = http or requests.Session()

    def __repr__(self) -> str:
        return f"EmulatorSdk({self.api_base!r})"

    def _post(self, path: str, payload: dict, timeout: float) -> dict:
        try:
            response = self._http.post(self.api_base + path, json=payload, timeout=timeout)
            data = response.json()
        except requests.RequestException as exc:
            raise NetworkError(type(exc).__name__) from None
        except ValueError:
            raise NetworkError(f"HTTP {response.status_code}, not JSON") from None
        if not isinstance(data, dict):
            raise ParseError("the answer is not a JSON object")
        errcode = data.get("errcode", 0)
        if errcode in SDK_ERRORS:
            raise sdk_error(errcode)
        return data

    def get_chat_data(self, seq: int, limit: int, timeout: int) -> dict:
        _check_pull(seq, limit, timeout)
        data = self._post("finance/getchatdata", dict(
            corpid=self._corp_id, secret=self._secret, seq=seq, limit=limit, timeout=timeout), timeout)
        return _chat_data(data)

    def decrypt_data(self, encrypt_key: str, encrypt_msg: str) -> str:
        _check_decrypt(encrypt_key, encrypt_msg)
        data = self._post("finance/decryptdata", dict(encrypt_key=encrypt_key, encrypt_msg=encrypt_msg), 10)
        if data.get("errcode"):
            raise ArchiveApiError(int(data["errcode"]), str(data.get("errmsg", "")))
        msg = data.get("msg")
        if not isinstance(msg, str):
            raise ParseError("finance/decryptdata answered no msg")
        return msg

    def close(self) -> None:
        self._http.close()


def open_archive_sdk(settings) -> ArchiveSdk | None:
    """The SDK WECOM_FINANCE_SDK names, or None when the archive is off."""
    if not settings.archive_enabled:
        return None
    if settings.finance_sdk == "emulator":
        return EmulatorSdk(settings.api_base, settings.corp_id, settings.archive_secret)
    return FinanceSdk(settings.finance_sdk, settings.corp_id, settings.archive_secret)
