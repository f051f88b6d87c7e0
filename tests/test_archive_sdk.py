"""The ctypes binding against WeCom's real Finance SDK binary (libWeWorkFinanceSdk_C.so).

The dev extra's `pywecomarchive` wheel is used only as the file to load: its Python code
is never imported; the library is found among the distribution's files. Nothing here
reaches WeCom: GetChatData goes through a local "proxy" that refuses or never answers,
so the SDK's own codes come back (10000 bad parameter, 10001 network, 10008 bad
encrypt_key) within the timeout we pass. Under CI=true a missing library fails.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wecom_app.archive.sdk import BadEncryptKey, BadParameter, FinanceSdk, NetworkError, SdkError

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
    assert sdk._handles == []  # the handle Init refused was destroyed, not kept
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


def test_decrypt_data_refuses_what_would_abort_the_process(library):
    """The library throws an uncaught C++ exception (abort) on an encrypt_msg under 13 bytes:
    proven in a child process, refused by the binding before the call."""
    child = subprocess.run([sys.executable, "-c", (
        "import ctypes,sys; lib=ctypes.CDLL(sys.argv[1]); lib.NewSlice.restype=ctypes.c_void_p;"
        "lib.DecryptData.argtypes=[ctypes.c_char_p,ctypes.c_char_p,ctypes.c_void_p];"
        "lib.DecryptData(b'0123456789abcdef', b'short', lib.NewSlice())"), library],
        capture_output=True, timeout=30)
    assert child.returncode != 0 and b"out_of_range" in child.stderr
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET)
    with pytest.raises(BadParameter):
        sdk.decrypt_data("0123456789abcdef", "short")
    with pytest.raises(BadParameter):
        sdk.decrypt_data("", "x" * 40)


def test_one_sdk_handle_per_thread_destroyed_on_close(library, closed_port):
    sdk = FinanceSdk(library, "ww0000000000000000", SECRET, proxy=closed_port)
    errors: list[Exception] = []

    def pull():
        for _ in range(2):  # a thread reuses its own handle
            try:
                sdk.get_chat_data(0, 10, 2)
            except SdkError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 6 and all(isinstance(e, NetworkError) for e in errors)
    assert len(set(sdk._handles)) == 3
    sdk.close()
    assert sdk._handles == []

