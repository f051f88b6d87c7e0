"""POST/GET /wecom/callback through the Flask client: what is stored, what is refused (DESIGN §3 HTTP)."""

import socket
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from wecom_app import metrics
from wecom_app.app import Runtime, create_app
from wecom_app.callbacks.crypto import WeComCrypto, signature
from wecom_app.callbacks.receiver import NoAnswer
from wecom_app.models import InboxEvent
from wecom_app.scheduler import run_job

from tests.callbacks import down_engines, envelope, fixture, post
from tests.conftest import AES_KEY, CORP_ID, TOKEN, replace
from tests.served import serving

pytestmark = pytest.mark.both_databases  # the receiver: INSERT ... ON CONFLICT per dialect, bigint, a database down

CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def stored(sessions):
    with sessions() as session:
        return session.scalars(select(InboxEvent).order_by(InboxEvent.id)).all()


def test_url_verification_echoes_the_decrypted_echostr(client):
    ts, nonce = str(int(time.time())), "47744683"
    echostr = CRYPTO.encrypt(b"1288432023552776189")  # contains + / = : must be decoded once only
    query = urlencode({"msg_signature": signature(TOKEN, ts, nonce, echostr), "timestamp": ts, "nonce": nonce,
                       "echostr": echostr})
    response = client.get(f"/wecom/callback?{query}")
    assert response.status_code == 200
    assert response.data == b"1288432023552776189"
    assert response.mimetype == "text/plain"


def test_url_verification_accepts_an_unencoded_plus_in_echostr(client):
    ts, nonce = str(int(time.time())), "1"
    echostr = next(e for e in (CRYPTO.encrypt(b"42") for _ in range(200)) if "+" in e)
    query = f"msg_signature={signature(TOKEN, ts, nonce, echostr)}&timestamp={ts}&nonce={nonce}&echostr={echostr}"
    response = client.get(f"/wecom/callback?{query}")
    assert response.status_code == 200 and response.data == b"42"


def test_url_verification_with_bad_signature_is_403(client):
    echostr = CRYPTO.encrypt(b"123")
    query = urlencode({"msg_signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "1",
                       "echostr": echostr})
    assert client.get(f"/wecom/callback?{query}").status_code == 403


@pytest.mark.parametrize("name", ["change_contact__create_user", "change_external_chat__update__add_member",
                                  "template_card_event", "text", "enter_agent"])
def test_event_is_stored_before_200_with_empty_body(client, sessions, name):
    response = post(client, CRYPTO, fixture(name))
    assert response.status_code == 200 and response.data == b""
    [row] = stored(sessions)
    assert row.status == "pending" and row.payload == fixture(name) and row.source == "app"


def test_same_event_three_times_is_stored_once(client, sessions):
    before = metrics.DUPLICATES._value.get()
    for _ in range(3):  # WeCom's retries: fresh envelope (random prefix, nonce), same event
        assert post(client, CRYPTO, fixture("change_contact__delete_user")).status_code == 200
    assert len(stored(sessions)) == 1
    assert metrics.DUPLICATES._value.get() - before == 2


def test_two_events_in_one_second_from_sys_are_both_kept(client, sessions):
    a = fixture("change_contact__delete_user")
    b = a.replace("zhangsan", "lisi")
    post(client, CRYPTO, a)
    post(client, CRYPTO, b)
    assert len(stored(sessions)) == 2


def _rejected(client, sessions, response, status, reason):
    assert response.status_code == status
    assert stored(sessions) == []


@pytest.mark.parametrize("case,status", [
    ("no_signature", 403), ("wrong_signature", 403), ("stale_timestamp", 403), ("future_timestamp", 403),
    ("other_receive_id", 403), ("garbage_ciphertext", 403), ("truncated_ciphertext", 403),
    ("not_xml_plaintext", 400), ("plaintext_with_entities", 400), ("envelope_with_dtd", 403),
])
def test_bad_callbacks_are_refused_and_store_nothing(client, sessions, case, status):
    xml = fixture("text")
    if case == "no_signature":
        _, body = envelope(CRYPTO, xml)
        response = client.post(f"/wecom/callback?timestamp={int(time.time())}&nonce=1", data=body)
    elif case == "wrong_signature":
        query, body = envelope(CRYPTO, xml)
        response = client.post("/wecom/callback?" + query.replace("msg_signature=", "msg_signature=0"), data=body)
    elif case == "stale_timestamp":
        response = post(client, CRYPTO, xml, timestamp=int(time.time()) - 601)
    elif case == "future_timestamp":
        response = post(client, CRYPTO, xml, timestamp=int(time.time()) + 601)
    elif case == "other_receive_id":
        response = post(client, WeComCrypto(TOKEN, AES_KEY, "wwotherc0rp"), xml)
    elif case == "garbage_ciphertext":
        response = post(client, CRYPTO, xml, encrypted="bm90IGEgY2lwaGVydGV4dA==")
    elif case == "truncated_ciphertext":
        response = post(client, CRYPTO, xml, encrypted=CRYPTO.encrypt(xml.encode())[:64])
    elif case == "not_xml_plaintext":
        response = post(client, CRYPTO, "this is not xml")
    elif case == "plaintext_with_entities":
        bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
                "<xml><Content>&b;</Content><MsgType>text</MsgType></xml>")
        response = post(client, CRYPTO, bomb)
    elif case == "envelope_with_dtd":
        query, body = envelope(CRYPTO, xml)
        response = client.post("/wecom/callback?" + query, data='<!DOCTYPE x [<!ENTITY e "x">]>' + body)
    _rejected(client, sessions, response, status, case)


def test_rejections_are_counted_by_reason(client):
    before = metrics.REJECTED.labels("stale_timestamp")._value.get()
    post(client, CRYPTO, fixture("text"), timestamp=1)
    assert metrics.REJECTED.labels("stale_timestamp")._value.get() == before + 1


def test_oversized_body_is_413_and_stores_nothing(client, sessions, settings):
    query, _ = envelope(CRYPTO, "<xml/>")
    body = b"<xml><Encrypt>" + b"A" * (settings.callback_max_bytes + 1) + b"</Encrypt></xml>"
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 413
    assert stored(sessions) == []


def test_database_down_answers_200_and_spools_the_event_never_a_status(client, sessions, settings, runtime, tmp_path):
    """WeCom never retries an HTTP status (document/path/90930 §3.2): a 503 would lose the event."""
    for engine in down_engines(tmp_path):  # a PostgreSQL that refuses connections; a SQLite file it cannot open
        process = Runtime(settings, engine=engine)
        down = create_app(settings, runtime=process, check_schema=False).test_client()
        response = post(down, CRYPTO, fixture("text"))
        assert response.status_code == 200 and response.data == b""
        ready = down.get("/readyz")
        assert ready.status_code == 503 and ready.json["spool"]["status"] == "not_empty"
        process.spool.close()  # that process exits
        engine.dispose()
    assert stored(sessions) == []
    assert run_job("spool", runtime).stored == 1  # the same event spooled twice is one inbox row
    assert post(client, CRYPTO, fixture("text")).status_code == 200  # and a live duplicate adds none
    assert len(stored(sessions)) == 1
    assert client.get("/readyz").json["spool"] == dict(status="empty", events=0, oldest_age_seconds=0)


def test_database_and_spool_both_down_sends_no_answer(settings, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("the spool directory cannot be made under a file")
    settings = replace(settings, spool_dir=str(blocked / "spool"))
    [engine, *_] = down_engines(tmp_path)
    down = create_app(settings, runtime=Runtime(settings, engine=engine), check_schema=False).test_client()
    before = metrics.REJECTED.labels("spool_unavailable")._value.get()
    with pytest.raises(NoAnswer):  # over HTTP the connection closes unanswered: tests/e2e/test_spool_outage.py
        post(down, CRYPTO, fixture("text"))
    assert not blocked.is_dir()
    assert metrics.REJECTED.labels("spool_unavailable")._value.get() == before + 1
    engine.dispose()


def test_contacts_endpoint_uses_its_own_token_and_key(db_url, engine, sessions):
    from tests.conftest import make_settings

    contact_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    settings = make_settings(database_url=db_url, contact_token="QDG6eK", contact_aes_key=contact_key)
    client = create_app(settings, runtime=Runtime(settings, engine=engine)).test_client()
    contact_crypto = WeComCrypto("QDG6eK", contact_key, CORP_ID)
    assert post(client, CRYPTO, fixture("change_contact__create_user"), path="/wecom/contacts/callback").status_code == 403
    assert post(client, contact_crypto, fixture("change_contact__create_user"),
                path="/wecom/contacts/callback").status_code == 200
    # the same change delivered to the app's own callback too is the same event
    assert post(client, CRYPTO, fixture("change_contact__create_user")).status_code == 200
    [row] = stored(sessions)
    assert row.source == "contacts" and row.change_type == "create_user"


def test_other_methods_are_405(client):
    assert client.put("/wecom/callback").status_code == 405


def test_contacts_endpoint_is_404_when_not_configured(client):
    assert post(client, CRYPTO, fixture("text"), path="/wecom/contacts/callback").status_code == 404


def test_secrets_never_reach_the_logs(client, caplog):
    caplog.set_level("DEBUG")
    post(client, CRYPTO, fixture("text"))
    post(client, CRYPTO, fixture("text"), timestamp=1)
    assert TOKEN not in caplog.text and AES_KEY not in caplog.text


def test_an_event_with_an_absurdly_long_name_is_still_stored(client, sessions):
    xml = fixture("enter_agent").replace("enter_agent", "x" * 300)
    assert post(client, CRYPTO, xml).status_code == 200
    assert len(stored(sessions)) == 1


def _refused(client, sessions, runtime, response, status, reason, before):
    assert response.status_code == status
    assert metrics.REJECTED.labels(reason)._value.get() == before + 1
    assert stored(sessions) == [] and runtime.spool.depth()[0] == 0


@pytest.mark.parametrize("timestamp", ["²", "1" * 400, "١٧٦٣٩٠٠٣٠٠", "-1", "1e9"])
def test_a_timestamp_not_ascii_digits_of_bounded_length_is_403_before_any_work(client, sessions, runtime, timestamp):
    before = metrics.REJECTED.labels("bad_timestamp")._value.get()
    response = post(client, CRYPTO, fixture("text"), timestamp=timestamp)  # signed: the signature is not the issue
    _refused(client, sessions, runtime, response, 403, "bad_timestamp", before)


def test_url_verification_with_a_unicode_digit_timestamp_is_403(client):
    echostr = CRYPTO.encrypt(b"123")
    query = urlencode({"msg_signature": signature(TOKEN, "²", "1", echostr), "timestamp": "²", "nonce": "1",
                       "echostr": echostr})
    assert client.get(f"/wecom/callback?{query}").status_code == 403


@pytest.mark.parametrize("create_time", ["²", "1" * 400, str(2**70), "", "-5"])
def test_a_signed_event_whose_create_time_is_not_unix_seconds_is_400_never_stored_nor_spooled(
        client, sessions, runtime, create_time):
    """A poison event must not reach the database (2**70 overflows PostgreSQL's bigint, which the
    receiver would take for an outage and spool for ever) nor be answered 200."""
    xml = fixture("text").replace("<CreateTime>1763900300</CreateTime>", f"<CreateTime>{create_time}</CreateTime>")
    before = metrics.REJECTED.labels("bad_create_time")._value.get()
    response = post(client, CRYPTO, xml)
    _refused(client, sessions, runtime, response, 400, "bad_create_time", before)


def test_a_ten_digit_create_time_is_still_an_event(client, sessions):
    xml = fixture("text").replace("<CreateTime>1763900300</CreateTime>", "<CreateTime>9999999999</CreateTime>")
    assert post(client, CRYPTO, xml).status_code == 200
    [row] = stored(sessions)
    assert row.create_time == 9999999999


def test_values_the_database_refuses_are_400_not_spooled_as_an_outage(client, sessions, runtime, monkeypatch, engine):
    """The backstop behind parse_event's bounds: a DataError is bad input, never an outage."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores any 64-bit value and its driver raises OverflowError beyond; PostgreSQL's bigint is the case")
    monkeypatch.setattr("wecom_app.callbacks.events.MAX_CREATE_TIME_DIGITS", 30)
    xml = fixture("text").replace("<CreateTime>1763900300</CreateTime>", f"<CreateTime>{2**70}</CreateTime>")
    before = metrics.REJECTED.labels("unstorable")._value.get()
    response = post(client, CRYPTO, xml)
    _refused(client, sessions, runtime, response, 400, "unstorable", before)


def _raw_exchange(port: int, head: str, body: bytes = b"") -> tuple[bytes, float]:
    """Send a request and keep the connection open (as a hostile or slow client would);
    return the status line and how long it took to come."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = sock.recv(4096)
        return answer.split(b"\r\n", 1)[0], time.monotonic() - started


@pytest.mark.parametrize("length_header", ["Content-Length: 0\r\n", ""])
def test_an_empty_body_is_answered_at_once_over_a_real_server(app, sessions, length_header):
    """PEP 3333: read CONTENT_LENGTH bytes, no more; werkzeug's wsgi.input is the raw socket."""
    query, _ = envelope(CRYPTO, fixture("text"))
    with serving(app) as port:
        status, took = _raw_exchange(
            port, f"POST /wecom/callback?{query} HTTP/1.1\r\nHost: x\r\n{length_header}")
    assert status == b"HTTP/1.1 403 Forbidden" and took < 1
    assert stored(sessions) == []


def test_a_chunked_body_the_server_terminates_is_still_read(app, sessions):
    query, body = envelope(CRYPTO, fixture("text"))
    data = body.encode()
    chunked = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"
    with serving(app) as port:
        status, took = _raw_exchange(
            port, f"POST /wecom/callback?{query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", chunked)
    assert status == b"HTTP/1.1 200 OK" and took < 1
    assert len(stored(sessions)) == 1
