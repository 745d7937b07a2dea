"""Bearer-token authentication and scope checks (STANDARDS.md §5): RS256 JWTs only, no bypass.

``TokenVerifier`` checks a token against a PEM public key or a JWKS URL and yields a ``Caller``
(``sub`` = the F3548 manager, plus its scopes). ``current_caller`` and ``require_scope`` are the FastAPI
dependencies. Failures raise ``Unauthorized`` / ``Forbidden`` carrying a short ``.reason``; api.errors turns
them into 401 / 403. Layer: api.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from api.keys import KeyToolError, load_public_key

if TYPE_CHECKING:
    from api.settings import Settings

__all__ = [
    "KNOWN_SCOPES",
    "Caller",
    "Forbidden",
    "TokenVerifier",
    "Unauthorized",
    "current_caller",
    "require_scope",
]

#: Scope names of F3548 (``utm.*``) and of the InterUSS test interfaces, as listed in STANDARDS.md §5.
KNOWN_SCOPES = frozenset(
    {
        "utm.strategic_coordination",
        "utm.constraint_management",
        "utm.constraint_processing",
        "utm.conformance_monitoring_sa",
        "utm.availability_arbitration",
        "utm.inject_test_data",
        "interuss.flight_planning.plan",
        "interuss.flight_planning.direct_automated_test",
        "interuss.geospatial_map.query",
        "interuss.geospatial_map.direct_automated_test",
        "geo-awareness.test",
        "interuss.versioning.read_system_versions",
        "interuss.pool_status.read",
        "utm6g.replay.read",  # ours: read recorded runs (/replay/v1) for the web map and regulators
        "utm6g.live.read",  # ours: watch the live airspace (/live/v1) on the web map
        "utm6g.audit.read",  # ours: read the decisions audit trail (/audit/v1), for regulators
    }
)
_ALGORITHM = "RS256"  # F3548: RS256 only; never "none", never HMAC (the public key is not a secret)
_JWKS_TIMEOUT_S = 5.0
_JWT_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (  # most specific first
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed; RS256 only"),
    (jwt.InvalidIssuedAtError, "iat must be a number"),
    (jwt.DecodeError, "malformed token"),
)


class Unauthorized(Exception):
    """No valid bearer token (401): missing, malformed, expired, wrong audience or bad signature."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """A valid token without the scope the route needs (403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: ``sub`` (the manager of the intents it creates) and the token's scopes."""

    sub: str
    scopes: frozenset[str]


class TokenVerifier:
    """Verifies RS256 bearer tokens for one audience; build it with a named constructor.

    ``key_for`` maps a token (its header already checked to be RS256) to the RSA public key to verify it with.
    """

    def __init__(self, key_for: Callable[[str], Any], *, audience: str) -> None:
        if not audience:
            raise ValueError("audience: must be a non-empty string")
        self._key_for = key_for
        self.audience = audience

    @classmethod
    def from_pem(cls, path_or_bytes: Path | str | bytes, *, audience: str) -> TokenVerifier:
        """Verify against one RSA public key: a PEM file's path, or the PEM text as bytes."""
        key = load_public_key(path_or_bytes)
        return cls(lambda _token: key, audience=audience)

    @classmethod
    def from_jwks(cls, url: str, *, audience: str) -> TokenVerifier:
        """Verify against the key named by the token's ``kid`` in a JWKS served at ``url`` (cached 5 min)."""
        client = jwt.PyJWKClient(str(url), cache_jwk_set=True, lifespan=300, timeout=_JWKS_TIMEOUT_S)

        def key_for(token: str) -> Any:
            try:
                key = client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError:
                raise Unauthorized("signing keys unavailable (JWKS unreachable)") from None
            except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.PyJWKError):
                raise Unauthorized("no signing key for this token's kid") from None
            if not isinstance(key, rsa.RSAPublicKey):
                raise Unauthorized("the JWKS key for this token's kid is not an RSA key")
            return key

        return cls(key_for, audience=audience)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """The verifier the settings name: the PEM file, else the JWKS URL."""
        if settings.jwt_public_key is not None:
            return cls.from_pem(settings.jwt_public_key, audience=settings.audience)
        if settings.jwks_url is not None:
            return cls.from_jwks(str(settings.jwks_url), audience=settings.audience)
        raise KeyToolError("jwt_public_key", "no verification key configured")

    def verify(self, token: str) -> Caller:
        """The caller a valid token names; ``Unauthorized`` with a short reason otherwise.

        Checked: header ``alg`` is RS256 (before any key is looked up), signature, ``aud``, ``exp``
        (required), ``nbf`` and ``iat`` when present, ``sub`` (required, non-empty), ``scope`` (a string or
        a list of strings).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthorized("malformed token") from None
        if header.get("alg") != _ALGORITHM:
            raise Unauthorized(f"algorithm {header.get('alg')!r} not allowed; RS256 only")
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=self.audience,
                options={"require": ["exp", "aud", "sub"], "verify_sub": False},  # sub: checked below
            )
        except jwt.MissingRequiredClaimError as err:
            raise Unauthorized(f"missing claim {err.claim}") from None
        except jwt.InvalidTokenError as err:
            raise Unauthorized(_reason(err)) from None
        if not isinstance(claims["sub"], str) or not claims["sub"].strip():
            raise Unauthorized("sub must be a non-empty string")
        return Caller(sub=claims["sub"], scopes=_scopes(claims.get("scope")))


_bearer = HTTPBearer(auto_error=False, description="RS256 JWT (F3548 Authority scheme)")


async def current_caller(request: Request, _openapi: Annotated[object, Depends(_bearer)] = None) -> Caller:
    """FastAPI dependency: the caller named by ``Authorization: Bearer <token>``.

    Async on purpose: an RS256 check against a PEM is ~0.15 ms of CPU, cheaper than the threadpool hop a
    sync dependency costs on every request (a JWKS key set is fetched once, then cached by PyJWKClient).

    The verifier is ``request.app.state.verifier``. (``_openapi`` only declares the bearer scheme in
    /openapi.json; the header is parsed here so a malformed one gets its own reason.)
    """
    header = request.headers.get("authorization")
    if header is None or not header.strip():
        raise Unauthorized("missing bearer token")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("malformed Authorization header; expected 'Bearer <token>'")
    verifier: TokenVerifier = request.app.state.verifier
    return verifier.verify(token)


def require_scope(*any_of: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency yielding the caller if its token holds at least one of ``any_of``, else ``Forbidden``.

    Scope names are checked against ``KNOWN_SCOPES`` here, so a typo fails at import, not as a 403 forever.
    """
    if not any_of:
        raise ValueError("require_scope: name at least one scope")
    unknown = sorted(set(any_of) - KNOWN_SCOPES)
    if unknown:
        raise ValueError(f"require_scope: unknown scope(s) {unknown}; known: {sorted(KNOWN_SCOPES)}")
    needed = frozenset(any_of)

    async def scoped_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.scopes.isdisjoint(needed):
            raise Forbidden(f"missing scope: this needs {' or '.join(any_of)}")
        return caller

    return scoped_caller


def _scopes(claim: object) -> frozenset[str]:
    """Scopes of a ``scope`` claim: a space-separated string (RFC 8693) or a list of strings; absent: none."""
    if claim is None:
        return frozenset()
    if isinstance(claim, str):
        return frozenset(claim.split())
    if isinstance(claim, list) and all(isinstance(s, str) for s in claim):
        return frozenset(name for s in claim for name in s.split())
    raise Unauthorized("scope must be a space-separated string or a list of strings")


def _reason(err: jwt.InvalidTokenError) -> str:
    """The short reason for a PyJWT failure."""
    return next((reason for kind, reason in _JWT_REASONS if isinstance(err, kind)), "invalid token")
