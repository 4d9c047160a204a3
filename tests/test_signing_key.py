"""No built-in signing key: who may mint a token, and which installation accepts it (issue 8, item 1)."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import jwt
import pytest

from cases.platform.config import Settings
from cases.platform.security import (
    MIN_KEY_BYTES,
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    SigningKey,
    SigningKeyError,
    issue_token,
    read_token_claims,
    resolve_signing_key,
)

REPO = Path(__file__).resolve().parents[1]
OLD_DEFAULT = "dev-insecure-change-me"  # the key every installation used to share


def _claims(user_id: int, key: SigningKey, now, **overrides) -> dict:
    claims = {"sub": str(user_id), "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "iid": key.installation_id,
              "iat": int(now.timestamp()), "exp": int((now + timedelta(hours=1)).timestamp())}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _get_cases(live_server, token: str) -> httpx.Response:
    return httpx.get(f"{live_server.url}/api/cases", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["message"] == "未登录或登录已过期，请重新登录"
    assert r.headers.get("www-authenticate") == "Bearer"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the old key was short, too
def test_a_token_signed_with_the_old_default_key_is_refused(live_server, world, clock):
    key = live_server.signing_key
    # the control: the same claims with the installation's key get in
    good = jwt.encode(_claims(world.admin.id, key, clock.now()), key.secret, algorithm="HS256")
    assert _get_cases(live_server, good).status_code == 200
    assert key.secret != OLD_DEFAULT
    for claims in (_claims(world.admin.id, key, clock.now()),
                   {"sub": str(world.admin.id), "exp": int((clock.now() + timedelta(hours=1)).timestamp())}):
        _refused(_get_cases(live_server, jwt.encode(claims, OLD_DEFAULT, algorithm="HS256")))


def test_a_token_of_another_installation_with_the_same_key_is_refused(live_server, world, clock, tmp_path):
    key = live_server.signing_key
    elsewhere = resolve_signing_key(Settings(secret_key=key.secret, data_dir=tmp_path / "elsewhere"))
    assert elsewhere.secret == key.secret and elsewhere.installation_id != key.installation_id
    _refused(_get_cases(live_server, issue_token(world.officer.id, elsewhere, clock.now(), timedelta(hours=1))))
    assert _get_cases(live_server, issue_token(world.officer.id, key, clock.now(), timedelta(hours=1))).status_code == 200


@pytest.mark.parametrize("change", [
    {"iss": None}, {"aud": None}, {"iid": None},  # missing
    {"iss": "someone-else"}, {"aud": "another-api"}, {"aud": ["another-api"]}, {"iid": ""},  # wrong
])
def test_a_token_without_issuer_audience_or_installation_is_refused(live_server, world, clock, change):
    key = live_server.signing_key
    token = jwt.encode(_claims(world.officer.id, key, clock.now(), **change), key.secret, algorithm="HS256")
    _refused(_get_cases(live_server, token))


def test_a_remembered_verification_still_expires_and_belongs_to_one_key(monkeypatch):
    """A token's signature is verified once and remembered (security._verified_claims); expiry is
    still checked on every read against the clock given, and the same token under another key (or
    another installation with the same secret) is verified for that key and refused."""
    now = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
    key = SigningKey(secret="k" * MIN_KEY_BYTES, installation_id="here")
    token = issue_token(7, key, now, timedelta(hours=1))
    decodes = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **kw: decodes.append(1) or real(*a, **kw))
    first = read_token_claims(token, key, now)
    assert first is not None and first.user_id == 7 and first.expires_at == now + timedelta(hours=1)
    assert read_token_claims(token, key, now + timedelta(minutes=59)) == first
    assert len(decodes) == 1  # verified once
    assert read_token_claims(token, key, now + timedelta(hours=1, seconds=1)) is None  # expired, though remembered
    assert read_token_claims(token, SigningKey(secret="o" * MIN_KEY_BYTES, installation_id="here"), now) is None
    assert read_token_claims(token, SigningKey(secret=key.secret, installation_id="elsewhere"), now) is None
    assert read_token_claims(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), key, now) is None
    assert read_token_claims(None, key, now) is None  # type: ignore[arg-type]


def test_login_issues_a_token_naming_issuer_audience_and_installation(live_server, world):
    r = httpx.post(f"{live_server.url}/api/auth/token", data={"username": "officer", "password": "secret-pw"})
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["iss"] == TOKEN_ISSUER and claims["aud"] == TOKEN_AUDIENCE
    assert claims["iid"] == live_server.signing_key.installation_id
    assert _get_cases(live_server, r.json()["access_token"]).status_code == 200


def test_a_development_start_generates_the_key_once_0600_and_reuses_it(tmp_path):
    data = tmp_path / "var"
    first = resolve_signing_key(Settings(data_dir=data))
    key_file, id_file = data / "secret_key", data / "installation_id"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.secret.encode()) >= MIN_KEY_BYTES and first.secret != OLD_DEFAULT
    assert key_file.read_text().strip() == first.secret and id_file.read_text().strip() == first.installation_id
    mtime = key_file.stat().st_mtime_ns
    again = resolve_signing_key(Settings(data_dir=data))
    assert again == first and again.secret == first.secret
    assert key_file.stat().st_mtime_ns == mtime
    # another data dir is another installation, with its own key
    other = resolve_signing_key(Settings(data_dir=tmp_path / "other"))
    assert other.secret != first.secret and other.installation_id != first.installation_id
    assert first.secret not in repr(first)


def test_a_configured_key_shorter_than_32_bytes_is_refused(tmp_path):
    with pytest.raises(SigningKeyError, match="太短"):
        resolve_signing_key(Settings(secret_key="x" * (MIN_KEY_BYTES - 1), data_dir=tmp_path))
    with pytest.raises(SigningKeyError, match="太短"):  # counted in bytes: 10 Chinese characters are 30 bytes
        resolve_signing_key(Settings(secret_key="安" * 10, data_dir=tmp_path))
    short_file = tmp_path / "short.key"
    short_file.write_text("y" * 20 + "\n")
    with pytest.raises(SigningKeyError, match="太短"):
        resolve_signing_key(Settings(secret_key_file=short_file, env="production", data_dir=tmp_path))
    key_file = tmp_path / "prod.key"
    key_file.write_text("z" * MIN_KEY_BYTES + "\n")
    key = resolve_signing_key(Settings(secret_key_file=key_file, env="production", data_dir=tmp_path))
    assert key.secret == "z" * MIN_KEY_BYTES
    assert not (tmp_path / "secret_key").exists()  # a configured key: nothing generated
    with pytest.raises(SigningKeyError, match="只能设置其中一个"):
        resolve_signing_key(Settings(secret_key="k" * 40, secret_key_file=key_file, data_dir=tmp_path))


def test_no_setting_has_a_secret_default():
    for name, f in Settings.model_fields.items():
        if any(word in name for word in ("secret", "password", "key")) or name.endswith("token"):
            assert not f.default, f"{name} has a built-in default"
    assert Settings.model_fields["env"].default == "development"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(tmp_path: Path, **env_extra: str) -> tuple[subprocess.CompletedProcess, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANJIAN_")}
    env.update(ANJIAN_DATA_DIR=str(tmp_path / "data"), ANJIAN_ENV="production",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep), **env_extra)
    port = _free_port()
    proc = subprocess.run([sys.executable, "-m", "anjian.cli", "serve", "--port", str(port)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    return proc, port


def test_a_production_start_without_a_key_refuses_before_binding(tmp_path):
    proc, port = _serve(tmp_path)
    assert proc.returncode != 0
    assert "生产环境（ANJIAN_ENV=production）未配置令牌签名密钥，拒绝启动" in proc.stderr
    assert "ANJIAN_SECRET_KEY" in proc.stderr and "ANJIAN_SECRET_KEY_FILE" in proc.stderr
    assert "Uvicorn running" not in proc.stderr + proc.stdout
    # nothing started: no Prefect home, no generated key, and the port is still free
    assert not (tmp_path / "data" / "prefect").exists() and not (tmp_path / "data" / "secret_key").exists()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_production_start_with_a_short_key_refuses(tmp_path):
    proc, _ = _serve(tmp_path, ANJIAN_SECRET_KEY="too-short")
    assert proc.returncode != 0
    assert "太短" in proc.stderr and "ANJIAN_SECRET_KEY" in proc.stderr
    assert not (tmp_path / "data" / "prefect").exists()


def test_a_development_serve_generates_the_key_into_the_data_dir_and_reuses_it(tmp_path):
    """`make run` (anjian demo + anjian serve, ANJIAN_ENV unset): the key is made once, 0600, and
    tokens minted with it by the first start are accepted by the second."""
    from cases.platform.db import Database
    from cases.platform.migrate import upgrade
    from cases.models import User
    from cases.reference import load_reference_data
    from cases.platform.security import hash_password

    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'anjian.db'}"
    upgrade(url)
    db = Database(url)
    with db.transaction() as s:
        load_reference_data(s)
        s.add(User(username="admin", display_name="admin", password_hash=hash_password("demo-password"),
                   role="admin", jurisdiction_code="320000", active=True, created_at=datetime.now(timezone.utc)))
    db.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANJIAN_")}
    env.update(ANJIAN_DATA_DIR=str(data),
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    seen, token = [], None
    for start in range(2):
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "anjian.cli", "serve", "--no-prefect", "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            r = None
            for _ in range(600):  # up to 60 s
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/api/cases", timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read()
                    time.sleep(0.1)
            assert r is not None and r.status_code == 401
            if start == 0:  # log in on the first start ...
                r = httpx.post(f"http://127.0.0.1:{port}/api/auth/token",
                               data={"username": "admin", "password": "demo-password"}, timeout=30)
                assert r.status_code == 200, r.text
                token = r.json()["access_token"]
            # ... and the token still works after a restart
            r = httpx.get(f"http://127.0.0.1:{port}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert r.status_code == 200, r.text
            key_file = data / "secret_key"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            seen.append((key_file.read_text(), (data / "installation_id").read_text()))
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert "开发模式，令牌签名密钥取自" in err
    assert seen[0] == seen[1]
