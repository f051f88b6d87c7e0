"""The ctypes binding against WeCom's real Finance SDK binary (libWeWorkFinanceSdk_C.so).

The dev extra's `pywecomarchive` wheel is used only as the file to load: its Python code
is never imported; the library is found among the distribution's files. Nothing here
reaches WeCom: GetChatData goes through a local "proxy" that refuses or never answers,
so the SDK's own codes come back (10000 bad parameter, 10001 network, 10008 bad
encrypt_key) within the timeout we pass; or through a local proxy to a fake WeCom with a
self-signed certificate, which the library accepts (it verifies no certificate: its
egress must be trusted). Under CI=true a missing library fails.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from wecom_app.archive.sdk import (
    ArchiveApiError,
    BadEncryptKey,
    BadParameter,
    FinanceSdk,
    NetworkError,
    ParseError,
    SdkError,
)

SECRET = "bogus-archive-secret-do-not-print"


@pytest.fixture(scope="module")
def library() -> str:
    try:
        files = importlib.metadata.distribution("pywecomarchive").files or []
        found = [f.locate() for f in files if f.name == "libWeWorkFinanceSdk_C.so" and "x86_64" in str(f)]
    except importlib.metadata.PackageNotFoundError:
        found = []
    if not found or not Path(found[0]).is_file():
        message = "libWeWorkFinanceSdk_C.so not found: pip install -e '.[dev]' (pywecomarchive)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(found[0])


@pytest.fixture
def silent_proxy():
    """A proxy that accepts and never answers: what a server with no way out looks like."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    seen: list[bytes] = []
    held: list[socket.socket] = []

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            conn.settimeout(3)
            try:
                seen.append(conn.recv(4096))
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_init_with_empty_credentials_is_the_sdks_bad_parameter(library):
    sdk = FinanceSdk(library, "", "")
    with pytest.raises(BadParameter) as caught:
        sdk.get_chat_data(0, 10, 2)
    assert caught.value.code == 10000
    assert sdk.live_handles == 0  # the handle Init refused was destroyed, not kept
    sdk.close()


def test_get_chat_data_with_no_way_out_is_a_network_error_within_the_timeout(library, silent_proxy):
    proxy, seen = silent_proxy
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=proxy)
    started = time.monotonic()
    with pytest.raises(NetworkError) as caught:
        sdk.get_chat_data(0, 100, 1)
    elapsed = time.monotonic() - started
    sdk.close()
    assert caught.value.code == 10001 and caught.value.transient
    assert 0.8 <= elapsed < 6  # the SDK waited for the timeout we passed, and no longer
    assert seen and seen[0].startswith(b"CONNECT qyapi.weixin.qq.com:443")  # it tried WeCom, through us only
    assert SECRET not in str(caught.value) and SECRET not in repr(sdk)


def test_get_chat_data_refused_connection_is_a_network_error(library, closed_port):
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=closed_port)
    with pytest.raises(NetworkError):
        sdk.get_chat_data(0, 100, 2)
    sdk.close()


@pytest.mark.parametrize("limit", [0, 1001])
def test_limit_outside_1_to_1000_is_refused_by_the_sdk_itself(library, closed_port, limit):
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=closed_port)
    with pytest.raises(BadParameter):
        sdk.get_chat_data(0, limit, 2)
    sdk.close()


def test_decrypt_data_on_garbage_is_the_sdks_bad_encrypt_key(library):
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET)
    with pytest.raises(BadEncryptKey) as caught:
        sdk.decrypt_data("0123456789abcdef0123456789abcdef", "bm90IGFuIGVuY3J5cHRlZCBtZXNzYWdl" * 4)
    assert caught.value.code == 10008 and not caught.value.transient


def test_decrypt_data_refuses_what_would_abort_the_process(library, tmp_path):
    """The library throws an uncaught C++ exception (abort) on an encrypt_msg under 13 bytes:
    proven in a child process (no core file), refused by the binding before the call."""
    child = subprocess.run([sys.executable, "-c", (
        "import ctypes,resource,sys; resource.setrlimit(resource.RLIMIT_CORE, (0, 0));"
        "lib=ctypes.CDLL(sys.argv[1]); lib.NewSlice.restype=ctypes.c_void_p;"
        "lib.DecryptData.argtypes=[ctypes.c_char_p,ctypes.c_char_p,ctypes.c_void_p];"
        "lib.DecryptData(b'0123456789abcdef', b'short', lib.NewSlice())"), library],
        capture_output=True, timeout=30, cwd=tmp_path)
    assert child.returncode != 0 and b"out_of_range" in child.stderr
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET)
    with pytest.raises(BadParameter):
        sdk.decrypt_data("0123456789abcdef", "short")
    with pytest.raises(BadParameter):
        sdk.decrypt_data("", "x" * 40)


def test_one_sdk_handle_per_thread_destroyed_when_the_thread_ends_or_on_close(library, closed_port):
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=closed_port)
    together = threading.Barrier(3)
    seen: dict[str, set[int]] = {}
    errors: list[Exception] = []
    alive: list[int] = []

    def pull():
        for _ in range(2):  # a thread reuses its own handle
            try:
                sdk.get_chat_data(0, 10, 2)
            except SdkError as exc:
                errors.append(exc)
            seen.setdefault(threading.current_thread().name, set()).add(sdk._sdk())
        together.wait(10)  # all three alive at once: three handles
        alive.append(sdk.live_handles)
        together.wait(10)

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 6 and all(isinstance(e, NetworkError) for e in errors)
    assert all(len(pointers) == 1 for pointers in seen.values())
    assert len(set.union(*seen.values())) == 3 and alive == [3, 3, 3]
    assert sdk.live_handles == 0  # each went with its thread
    with pytest.raises(NetworkError):
        sdk.get_chat_data(0, 10, 2)
    assert sdk.live_handles == 1
    sdk.close()
    assert sdk.live_handles == 0

@pytest.fixture(scope="module")
def tls_context(tmp_path_factory) -> ssl.SSLContext:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qyapi.weixin.qq.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1)).sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("fake-wecom")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


class FakeWeCom:
    """A proxy that opens every CONNECT onto a TLS server playing qyapi.weixin.qq.com:
    `answers[path]` is the body for a request line containing `path`."""

    def __init__(self, context: ssl.SSLContext):
        self.context, self.answers, self.requests = context, {}, []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.proxy = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        with conn:
            conn.settimeout(5)
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with self.context.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += tls.recv(65536)
                line = data.split(b"\r\n", 1)[0].decode()
                self.requests.append(line)
                body = next((b for path, b in self.answers.items() if path in line), b"")
                tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                            % len(body) + body)

    def close(self):
        self.server.close()


@pytest.fixture
def fake_wecom(tls_context):
    fake = FakeWeCom(tls_context)
    fake.answers["/cgi-bin/gettoken"] = json.dumps(
        {"errcode": 0, "errmsg": "ok", "access_token": "fake-token", "expires_in": 7200}).encode()
    yield fake
    fake.close()


def test_the_sdk_verifies_no_certificate_so_its_egress_must_be_trusted(library, fake_wecom):
    """Seen with this build: a self-signed certificate for qyapi.weixin.qq.com gets the
    archive secret in gettoken's query string (README: egress only to WeCom)."""
    fake_wecom.answers["/cgi-bin/message/getchatdata"] = b'{"errcode":0,"errmsg":"ok","chatdata":[]}'
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=fake_wecom.proxy)
    assert sdk.get_chat_data(0, 10, 3) == {"errcode": 0, "errmsg": "ok", "chatdata": []}
    sdk.close()
    assert fake_wecom.requests[0].startswith(f"GET /cgi-bin/gettoken?corpid=ww0000000000000000&corpsecret={SECRET} ")
    assert fake_wecom.requests[1].startswith("POST /cgi-bin/message/getchatdata?access_token=fake-token ")


def test_get_chat_data_returns_wecoms_answer_read_by_length(library, fake_wecom):
    records = [dict(seq=seq, msgid=f"消息{seq}", publickey_ver=1, encrypt_random_key="k" * 344,
                    encrypt_chat_msg="正文" * 500) for seq in range(1, 101)]
    answer = {"errcode": 0, "errmsg": "ok", "chatdata": records}
    fake_wecom.answers["/cgi-bin/message/getchatdata"] = json.dumps(answer, ensure_ascii=False).encode()
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=fake_wecom.proxy)
    assert sdk.get_chat_data(0, 100, 3) == answer  # some 300 KB, UTF-8, through the slice intact
    sdk.close()


def test_a_wecom_errcode_in_the_answer_is_an_archive_api_error(library, fake_wecom):
    # the app's secret instead of the archive's: binarywang/WxJava#2833 saw exactly this answer
    fake_wecom.answers["/cgi-bin/message/getchatdata"] = b'{"errcode":48002,"errmsg":"api forbidden","chatdata":[]}'
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=fake_wecom.proxy)
    with pytest.raises(ArchiveApiError) as caught:
        sdk.get_chat_data(0, 10, 3)
    assert caught.value.errcode == 48002 and not caught.value.transient
    fake_wecom.answers["/cgi-bin/message/getchatdata"] = b"<html>502 Bad Gateway</html>"
    with pytest.raises(ParseError):
        sdk.get_chat_data(0, 10, 3)
    sdk.close()


def test_a_wrong_secret_is_the_sdks_network_error(library, fake_wecom):
    """The library swallows gettoken's 40001 (printing it to its standard output) and answers 10001."""
    fake_wecom.answers["/cgi-bin/gettoken"] = b'{"errcode":40001,"errmsg":"invalid credential"}'
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=fake_wecom.proxy)
    with pytest.raises(NetworkError):
        sdk.get_chat_data(0, 10, 3)
    sdk.close()
    assert len(fake_wecom.requests) == 1
