"""Callback crypto against WeCom's published vectors and an independent implementation (wechatpy)."""

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml.ElementTree import fromstring
from wechatpy.work.crypto import WeChatCrypto

from wecom_app.callbacks.crypto import CryptoError, WeComCrypto, signature

# shared/wecom-api-notes.md §1.6, set A (official sample) and set B (old qydev docs)
A = dict(token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", key="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
         corp="ww1436e0e65a779aee")
A_ECHO = dict(sig="012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", ts="1476416373", nonce="47744683",
              echostr="fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
              plain=b"1288432023552776189")
A_POST = dict(
    sig="0c3914025cb4b4d68103f6bfc8db550f79dcf48e", ts="1476422779", nonce="1597212914",
    encrypt="Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+",
    plain="<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName><CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>".encode(),
)
B = dict(token="QDG6eK", key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", corp="wx5823bf96d3bd56c7")
B_POST = dict(
    sig="477715d11cdb4164915debcba66cb864d751f3e6", ts="1409659813", nonce="1372623149",
    encrypt="RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==",
)


def crypto(vector=A):
    return WeComCrypto(vector["token"], vector["key"], vector["corp"])


def test_echostr_vector_verifies_and_decrypts():
    c = crypto()
    c.verify(A_ECHO["sig"], A_ECHO["ts"], A_ECHO["nonce"], A_ECHO["echostr"])
    assert c.decrypt(A_ECHO["echostr"]) == A_ECHO["plain"]


@pytest.mark.parametrize("vector,post", [(A, A_POST), (B, B_POST)], ids=["set-a-pad22", "set-b-pad30"])
def test_post_vectors_with_padding_above_16_decrypt(vector, post):
    c = crypto(vector)
    c.verify(post["sig"], post["ts"], post["nonce"], post["encrypt"])
    plain = c.decrypt(post["encrypt"])
    if "plain" in post:
        assert plain == post["plain"]
    assert b"<MsgType>" in plain and vector["corp"].encode() not in plain[-20:]


def test_wrong_signature_and_tampered_ciphertext_rejected():
    c = crypto()
    with pytest.raises(CryptoError, match="bad_signature"):
        c.verify("0" * 40, A_POST["ts"], A_POST["nonce"], A_POST["encrypt"])
    with pytest.raises(CryptoError, match="bad_signature"):
        c.verify(A_POST["sig"], str(int(A_POST["ts"]) + 1), A_POST["nonce"], A_POST["encrypt"])


def test_other_receive_id_rejected():
    other = WeComCrypto(A["token"], A["key"], "wwsomeoneelse0000")
    with pytest.raises(CryptoError, match="wrong_receive_id"):
        other.decrypt(A_POST["encrypt"])


@pytest.mark.parametrize("garbage,reason", [
    ("not base64 !!", "bad_base64"),
    (base64.b64encode(b"x" * 15).decode(), "bad_length"),
    (A_POST["encrypt"][:-24] + "==", "bad_base64"),
    ("", "bad_length"),
])
def test_garbage_and_truncated_ciphertext_rejected(garbage, reason):
    with pytest.raises(CryptoError) as caught:
        crypto().decrypt(garbage)
    assert caught.value.reason in (reason, "bad_padding", "bad_length", "bad_base64")


def _raw_encrypt(key43: str, raw: bytes) -> str:
    key = base64.b64decode(key43 + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


@pytest.mark.parametrize("pad_byte", [0, 33, 200])
def test_padding_byte_out_of_range_rejected(pad_byte):
    body = b"0123456789abcdef" + struct.pack(">I", 3) + b"abc" + A["corp"].encode()
    raw = body + bytes([pad_byte]) * (32 - len(body) % 32)
    with pytest.raises(CryptoError, match="bad_padding"):
        crypto().decrypt(_raw_encrypt(A["key"], raw))


def test_inconsistent_padding_bytes_rejected():
    body = b"0123456789abcdef" + struct.pack(">I", 3) + b"abc" + A["corp"].encode()
    pad = 32 - len(body) % 32
    raw = body + b"\x01" * (pad - 1) + bytes([pad])
    with pytest.raises(CryptoError, match="bad_padding"):
        crypto().decrypt(_raw_encrypt(A["key"], raw))


def test_length_field_beyond_message_rejected():
    body = b"0123456789abcdef" + struct.pack(">I", 4000) + b"abc" + A["corp"].encode()
    raw = body + bytes([32 - len(body) % 32]) * (32 - len(body) % 32)
    with pytest.raises(CryptoError, match="bad_length"):
        crypto().decrypt(_raw_encrypt(A["key"], raw))


@pytest.mark.parametrize("size", [1, 11, 12, 13, 43, 44, 1000, 4096])
def test_round_trips_both_ways_with_wechatpy(size):
    """wechatpy is an independent implementation: each side reads what the other wrote."""
    message = "<xml><Content>" + "事" * size + "</Content></xml>"
    ours = crypto()
    theirs = WeChatCrypto(A["token"], A["key"], A["corp"])
    envelope = ours.encrypt_reply(message, "1700000000", "42")
    assert theirs.decrypt_message(envelope, signature(A["token"], "1700000000", "42",
                                                      fromstring(envelope).findtext("Encrypt")),
                                  "1700000000", "42") == message
    their_envelope = theirs.encrypt_message(message, "43", "1700000001")
    encrypted = fromstring(their_envelope).findtext("Encrypt")
    ours.verify(fromstring(their_envelope).findtext("MsgSignature"), "1700000001", "43", encrypted)
    assert ours.decrypt(encrypted).decode() == message


def test_passive_reply_envelope_is_signed():
    c = crypto()
    envelope = c.encrypt_reply("<xml><MsgType>text</MsgType></xml>", "1476422779", "123")
    root = fromstring(envelope)
    enc = root.findtext("Encrypt")
    assert root.findtext("MsgSignature") == signature(A["token"], "1476422779", "123", enc)
    assert c.decrypt(enc) == b"<xml><MsgType>text</MsgType></xml>"
