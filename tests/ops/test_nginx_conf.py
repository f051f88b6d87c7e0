"""deploy/nginx.conf: nginx accepts it (`nginx -t`, with a throwaway certificate in place of the
placeholders), and it says what the app relies on the proxy for. nginx comes from Debian
(`apt-get install nginx-light`, as .ci/run does); without it the test skips, except under CI=true."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wecom_app.config import Settings

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed (apt-get install nginx-light): CI must check deploy/nginx.conf")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    return found


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_shipped_nginx_conf_passes_nginx_t(tmp_path):
    nginx = _nginx()
    cert, key = _self_signed(tmp_path)
    site = (CONF.read_text()
            .replace("/etc/ssl/wecom-app/fullchain.pem", str(cert)).replace("/etc/ssl/wecom-app/privkey.pem", str(key))
            .replace("/var/log/nginx/", f"{tmp_path}/").replace("/etc/wecom-app/", f"{tmp_path}/"))
    (tmp_path / "wecom-app.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    f"http {{\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
                    f"  access_log off;\n  include {tmp_path}/wecom-app.conf;\n}}\n")
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


def _directives(name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", CONF.read_text(), re.MULTILINE)


def test_nginx_conf_buffers_and_caps_bodies_at_the_app_s_limit_and_sets_one_hop_of_forwarded_headers():
    size = _directives("client_max_body_size")
    assert size == ["256k"] and 256 * 1024 == Settings.callback_max_bytes  # CALLBACK_MAX_BYTES' default
    assert _directives("proxy_request_buffering") == ["on"]
    for timeout in ("client_header_timeout", "client_body_timeout", "send_timeout", "keepalive_timeout"):
        assert _directives(timeout), timeout
    # /wecom/ answers or gives up just after WeCom's 5 s
    assert "proxy_read_timeout 6s" in CONF.read_text().split("location /wecom/")[1].split("}")[0]
    headers = dict(line.split(None, 1) for line in _directives("proxy_set_header"))
    assert headers["X-Forwarded-For"] == "$remote_addr"  # overwritten, not appended to the client's
    assert headers["X-Forwarded-Proto"] == "$scheme" and headers["X-Forwarded-Host"] == "$host"
    assert headers["X-Forwarded-Prefix"] == '""'
    log_format = CONF.read_text().split("log_format")[1].split(";")[0]
    assert "$uri" in log_format and not re.search(r"\$(request|request_uri|args|query_string)\b", log_format)
    assert len(re.findall(r"location = /WW_verify_XXXX\.txt", CONF.read_text())) == 2
