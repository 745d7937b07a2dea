"""Bearer-token auth (api.auth) and the settings that configure it (api.settings): STANDARDS.md §5.

Tokens are minted with api.keys or forged by hand (alg none, HS256 keyed with the public key); the
FastAPI checks run through a tiny app whose exception handlers are defined here (api.errors is separate).
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError

from api.auth import Caller, Forbidden, TokenVerifier, Unauthorized, current_caller, require_scope
from api.keys import mint_token, write_dev_keys
from api.settings import Settings

AUD = "utm.example.com"
PLAN = "utm.strategic_coordination"


@pytest.fixture(scope="module")
def keys(dev_keys) -> Path:
    """The folder of the session's dev key pair (private.pem, public.pem)."""
    return dev_keys[0].parent


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("other")
    write_dev_keys(directory)
    return directory


@pytest.fixture(scope="module")
def verifier(keys) -> TokenVerifier:
    return TokenVerifier.from_pem(keys / "public.pem", audience=AUD)


@pytest.fixture(autouse=True)
def _no_utm6g_environment(monkeypatch):
    """Settings read UTM6G_* variables; the developer's shell must not leak into these tests."""
    for name in [n for n in os.environ if n.upper().startswith("UTM6G_")]:
        monkeypatch.delenv(name)


def _mint(keydir: Path, **kwargs) -> str:
    args = {"sub": "uss1", "scopes": PLAN, "audience": AUD} | kwargs
    return mint_token(keydir / "private.pem", **args)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, sign=lambda signing_input: b"") -> str:
    """A JWT assembled by hand (RFC 7515 compact form), for tokens PyJWT refuses to make."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _claims(**overrides) -> dict:
    now = int(datetime.now(UTC).timestamp())
    return {"iss": "t", "sub": "uss1", "aud": AUD, "scope": PLAN, "iat": now, "exp": now + 600} | overrides


def _rs256(keydir: Path, claims: dict) -> str:
    """An RS256 token with arbitrary claims, signed with the dev private key."""
    key = serialization.load_pem_private_key((keydir / "private.pem").read_bytes(), password=None)
    return jwt.encode(claims, key, algorithm="RS256")


@pytest.fixture(scope="module")
def bad_tokens(keys: Path, other_keys: Path) -> dict[str, tuple[str, str]]:
    """name -> (token, expected reason substring); built once, RSA signing is not free."""
    past = datetime.now(UTC) - timedelta(hours=2)
    future = datetime.now(UTC) + timedelta(hours=1)
    public_pem = (keys / "public.pem").read_bytes()
    return {
        "expired": (_mint(keys, now=past), "token expired"),
        "not_yet_valid": (_mint(keys, now=future), "token not yet valid"),
        "wrong_audience": (_mint(keys, audience="other.example.com"), "wrong audience"),
        "other_key": (_mint(other_keys), "bad signature"),
        "tampered": (_tamper(_mint(keys)), "bad signature"),
        "alg_none": (_forge({"alg": "none", "typ": "JWT"}, _claims()), "not allowed; RS256 only"),
        "hs256_with_public_key": (
            _forge(
                {"alg": "HS256", "typ": "JWT"},
                _claims(),
                lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
            ),
            "not allowed; RS256 only",
        ),
        "missing_sub": (
            _rs256(keys, {k: v for k, v in _claims().items() if k != "sub"}),
            "missing claim sub",
        ),
        "empty_sub": (_rs256(keys, _claims(sub=" ")), "sub must be a non-empty string"),
        "numeric_sub": (_rs256(keys, _claims(sub=42)), "sub must be a non-empty string"),
        "missing_exp": (
            _rs256(keys, {k: v for k, v in _claims().items() if k != "exp"}),
            "missing claim exp",
        ),
        "missing_aud": (
            _rs256(keys, {k: v for k, v in _claims().items() if k != "aud"}),
            "missing claim aud",
        ),
        "scope_not_string": (_rs256(keys, _claims(scope=7)), "scope must be"),
        "garbage": ("not.a.jwt", "malformed token"),
        "two_parts": ("abc.def", "malformed token"),
    }


def _tamper(token: str) -> str:
    """The same signature over a different payload (sub changed)."""
    header, _, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    payload["sub"] = "mallory"
    return f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"


# --- the verifier ------------------------------------------------------------------------------------


def test_valid_token_yields_the_caller(keys, verifier):
    caller = verifier.verify(_mint(keys, scopes=f"{PLAN} utm.constraint_processing"))
    assert caller == Caller(sub="uss1", scopes=frozenset({PLAN, "utm.constraint_processing"}))


def test_list_form_scope_is_accepted(keys, verifier):
    caller = verifier.verify(_rs256(keys, _claims(scope=[PLAN, "utm.constraint_management"])))
    assert caller.scopes == {PLAN, "utm.constraint_management"}


def test_token_without_scope_claim_has_no_scopes(keys, verifier):
    claims = {k: v for k, v in _claims().items() if k != "scope"}
    assert verifier.verify(_rs256(keys, claims)).scopes == frozenset()


def test_audience_may_be_a_list_containing_ours(keys, verifier):
    """RFC 7519 §4.1.3: ``aud`` may be an array; ours must be in it."""
    assert verifier.verify(_rs256(keys, _claims(aud=["x.example.com", AUD]))).sub == "uss1"


@pytest.mark.parametrize(
    "name",
    [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "other_key",
        "tampered",
        "alg_none",
        "hs256_with_public_key",
        "missing_sub",
        "empty_sub",
        "numeric_sub",
        "missing_exp",
        "missing_aud",
        "scope_not_string",
        "garbage",
        "two_parts",
    ],
)
def test_bad_token_is_unauthorized_with_its_reason(bad_tokens, verifier, name):
    token, reason = bad_tokens[name]
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(token)
    assert reason in refused.value.reason
    assert str(refused.value) == refused.value.reason


def test_hs256_forgery_uses_the_published_key_as_hmac_secret(keys):
    """The classic attack: sign with HMAC keyed by the *public* PEM; a naive verifier would accept it.

    Oracle: recomputing the HMAC over the signing input with the public PEM reproduces the signature,
    so the token is 'valid' under HS256 and only the RS256 pin refuses it.
    """
    public_pem = (keys / "public.pem").read_bytes()
    token = _forge(
        {"alg": "HS256"}, _claims(), lambda data: hmac.new(public_pem, data, hashlib.sha256).digest()
    )
    signing_input, _, signature = token.rpartition(".")
    assert _b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()) == signature
    with pytest.raises(Unauthorized, match="RS256 only"):
        TokenVerifier.from_pem(public_pem, audience=AUD).verify(token)


def test_verifier_needs_an_audience(keys):
    with pytest.raises(ValueError, match="audience"):
        TokenVerifier.from_pem(keys / "public.pem", audience="")


# --- FastAPI dependencies ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(verifier) -> TestClient:
    app = FastAPI()
    app.state.verifier = verifier

    @app.exception_handler(Unauthorized)
    def _unauthorized(request: Request, err: Unauthorized) -> JSONResponse:
        return JSONResponse({"reason": err.reason}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, err: Forbidden) -> JSONResponse:
        return JSONResponse({"reason": err.reason}, status_code=403)

    @app.get("/whoami")
    def whoami(caller: Annotated[Caller, Depends(current_caller)]) -> dict:
        return {"sub": caller.sub, "scopes": sorted(caller.scopes)}

    @app.get("/plan")
    def plan(caller: Annotated[Caller, Depends(require_scope(PLAN))]) -> dict:
        return {"sub": caller.sub}

    @app.get("/flight_plans")
    def flight_plans(
        caller: Annotated[
            Caller,
            Depends(
                require_scope(
                    "interuss.flight_planning.plan", "interuss.flight_planning.direct_automated_test"
                )
            ),
        ],
    ) -> dict:
        return {"sub": caller.sub}

    return TestClient(app)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_http_valid_token_passes(client, keys):
    response = client.get("/plan", headers=_bearer(_mint(keys)))
    assert response.status_code == 200 and response.json() == {"sub": "uss1"}


def test_http_list_form_scope_passes(client, keys):
    response = client.get("/plan", headers=_bearer(_rs256(keys, _claims(scope=["x", PLAN]))))
    assert response.status_code == 200


def test_http_scheme_is_case_insensitive(client, keys):
    """RFC 7235 §2.1: the auth scheme is case-insensitive."""
    assert client.get("/whoami", headers={"Authorization": f"bearer {_mint(keys)}"}).status_code == 200


def test_http_no_token_is_401_with_challenge(client):
    response = client.get("/plan")
    assert response.status_code == 401
    assert response.json() == {"reason": "missing bearer token"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Bearer a b", "token abc"])
def test_http_malformed_authorization_header_is_401(client, header):
    response = client.get("/whoami", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["reason"].startswith("malformed Authorization header")


@pytest.mark.parametrize(
    "name", ["expired", "wrong_audience", "other_key", "alg_none", "hs256_with_public_key", "missing_sub"]
)
def test_http_bad_token_is_401_with_its_reason(client, bad_tokens, name):
    token, reason = bad_tokens[name]
    response = client.get("/plan", headers=_bearer(token))
    assert response.status_code == 401
    assert reason in response.json()["reason"]


def test_http_missing_scope_is_403_naming_the_scope(client, keys):
    response = client.get("/plan", headers=_bearer(_mint(keys, scopes="utm.constraint_processing")))
    assert response.status_code == 403
    assert response.json() == {"reason": f"missing scope: this needs {PLAN}"}


def test_http_any_of_the_scopes_is_enough(client, keys):
    token = _mint(keys, scopes="interuss.flight_planning.direct_automated_test")
    assert client.get("/flight_plans", headers=_bearer(token)).status_code == 200
    denied = client.get("/flight_plans", headers=_bearer(_mint(keys)))
    assert denied.status_code == 403
    reason = denied.json()["reason"]
    assert reason.startswith("missing scope: this needs interuss.flight_planning.plan or ")
    assert reason.endswith(" or interuss.flight_planning.direct_automated_test")


def test_http_openapi_declares_the_bearer_scheme(client):
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"].lower() == "bearer" for s in schemes.values())


@pytest.mark.parametrize(("scopes", "message"), [((), "at least one scope"), (("utm.strategic",), "unknown")])
def test_require_scope_refuses_no_scope_or_a_typo(scopes, message):
    with pytest.raises(ValueError, match=message):
        require_scope(*scopes)


# --- JWKS --------------------------------------------------------------------------------------------


class _JWKSServer:
    """A real HTTP server on 127.0.0.1 serving one JWKS document and counting the fetches."""

    def __init__(self, document: dict) -> None:
        body = json.dumps(document).encode()
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def jwks(keys) -> Iterator[_JWKSServer]:
    """The dev public key published under the kid that api.keys puts in its tokens."""
    public = serialization.load_pem_public_key((keys / "public.pem").read_bytes())
    jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    jwk |= {"kid": jwt.get_unverified_header(_mint(keys))["kid"], "use": "sig", "alg": "RS256"}
    server = _JWKSServer({"keys": [jwk]})
    yield server
    server.close()


def test_jwks_verifies_a_token_and_caches_the_key_set(jwks, keys):
    verifier = TokenVerifier.from_jwks(jwks.url, audience=AUD)
    assert verifier.verify(_mint(keys)).sub == "uss1"
    assert verifier.verify(_mint(keys, sub="uss2")).sub == "uss2"
    assert jwks.fetches == 1


def test_jwks_refuses_other_key_unknown_kid_and_alg_none(jwks, keys, other_keys):
    verifier = TokenVerifier.from_jwks(jwks.url, audience=AUD)
    with pytest.raises(Unauthorized, match="no signing key"):
        verifier.verify(_mint(other_keys))  # its kid is the other key's thumbprint
    kid = jwt.get_unverified_header(_mint(keys))["kid"]
    key = serialization.load_pem_private_key((other_keys / "private.pem").read_bytes(), password=None)
    impostor = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(Unauthorized, match="bad signature"):
        verifier.verify(impostor)
    with pytest.raises(Unauthorized, match="RS256 only"):
        verifier.verify(_forge({"alg": "none", "kid": kid}, _claims()))


def test_jwks_non_rsa_key_under_the_kid_is_refused(keys):
    jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True)
    server = _JWKSServer(
        {"keys": [jwk | {"kid": jwt.get_unverified_header(_mint(keys))["kid"], "use": "sig"}]}
    )
    try:
        with pytest.raises(Unauthorized, match="not an RSA key"):
            TokenVerifier.from_jwks(server.url, audience=AUD).verify(_mint(keys))
    finally:
        server.close()


def test_jwks_alg_none_is_refused_before_any_fetch(jwks):
    with pytest.raises(Unauthorized, match="RS256 only"):
        TokenVerifier.from_jwks(jwks.url, audience=AUD).verify(_forge({"alg": "none"}, _claims()))
    assert jwks.fetches == 0


def test_jwks_unreachable_is_unauthorized(keys):
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verifier = TokenVerifier.from_jwks(f"http://127.0.0.1:{port}/jwks.json", audience=AUD)
    with pytest.raises(Unauthorized, match="JWKS unreachable"):
        verifier.verify(_mint(keys))


# --- settings ----------------------------------------------------------------------------------------


def test_settings_refuse_to_start_without_a_key():
    with pytest.raises(ValidationError, match="the server never runs unauthenticated"):
        Settings(audience=AUD)


def test_settings_refuse_both_keys(keys):
    with pytest.raises(ValidationError, match="give one, not both"):
        Settings(audience=AUD, jwt_public_key=keys / "public.pem", jwks_url="https://idp.example.com/jwks")


@pytest.mark.parametrize(
    ("pem", "message"),
    [("absent.pem", "no such file"), ("private.pem", "not a PEM public key")],
)
def test_settings_refuse_a_bad_pem(keys, pem, message):
    with pytest.raises(ValidationError, match=message) as refused:
        Settings(audience=AUD, jwt_public_key=keys / pem)
    assert refused.value.errors()[0]["loc"] == ("jwt_public_key",)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"audience": ""}, "audience"),
        ({"audience": "  "}, "audience"),
        ({"port": 70000}, "port"),
        ({"max_area_km2": 0}, "max_area_km2"),
        ({"max_area_km2": float("inf")}, "max_area_km2"),
        ({"jwks_url": "not a url"}, "jwks_url"),
        ({"region": "absent/region.yaml"}, "region"),
        ({"runs_dir": "absent/runs"}, "runs_dir"),
        ({"unknown_option": 1}, "unknown_option"),
    ],
)
def test_settings_refuse_bad_values_by_field(keys, kwargs, field):
    with pytest.raises(ValidationError) as refused:
        Settings(**({"audience": AUD, "jwt_public_key": keys / "public.pem"} | kwargs))
    assert refused.value.errors()[0]["loc"] == (field,)


def test_settings_require_an_audience(keys):
    with pytest.raises(ValidationError) as refused:
        Settings(jwt_public_key=keys / "public.pem")
    assert refused.value.errors()[0]["loc"] == ("audience",)


def test_settings_defaults(keys):
    settings = Settings(audience=AUD, jwt_public_key=keys / "public.pem")
    assert settings.db_path == Path("utm6g.sqlite")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.jwks_url is None and settings.region is None
    assert settings.max_area_km2 == 2500.0 and settings.allow_equal_priority is False


def test_settings_read_the_utm6g_environment(keys, monkeypatch, tmp_path):
    monkeypatch.setenv("UTM6G_AUDIENCE", "env.example.com")
    monkeypatch.setenv("UTM6G_JWT_PUBLIC_KEY", str(keys / "public.pem"))
    monkeypatch.setenv("UTM6G_DB_PATH", str(tmp_path / "x.sqlite"))
    monkeypatch.setenv("UTM6G_PORT", "9001")
    monkeypatch.setenv("UTM6G_ALLOW_EQUAL_PRIORITY", "true")
    monkeypatch.setenv("AUDIENCE", "unprefixed-is-ignored")
    settings = Settings()
    assert settings.audience == "env.example.com"
    assert settings.jwt_public_key == keys / "public.pem"
    assert settings.db_path == tmp_path / "x.sqlite"
    assert settings.port == 9001 and settings.allow_equal_priority is True
    assert Settings(audience="flag.example.com").audience == "flag.example.com"  # arguments override


def test_settings_from_environment_still_need_a_key(monkeypatch):
    monkeypatch.setenv("UTM6G_AUDIENCE", AUD)
    with pytest.raises(ValidationError, match="never runs unauthenticated"):
        Settings()


def test_verifier_from_settings_pem_and_jwks(keys, jwks):
    by_pem = TokenVerifier.from_settings(Settings(audience=AUD, jwt_public_key=keys / "public.pem"))
    by_jwks = TokenVerifier.from_settings(Settings(audience=AUD, jwks_url=jwks.url))
    token = _mint(keys)
    assert by_pem.verify(token) == by_jwks.verify(token)
    with pytest.raises(Unauthorized, match="wrong audience"):
        TokenVerifier.from_settings(Settings(audience="x", jwt_public_key=keys / "public.pem")).verify(token)
