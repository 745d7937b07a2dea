"""Local RSA keys and RS256 tokens for development and tests: ``utm6g dev-keys`` and ``utm6g token``.

The service only verifies tokens (api.auth); these tools play the part of InterUSS's dummy OAuth server
(STANDARDS.md §5) so a developer can run the service with real RS256 bearer tokens and no bypass.
Never trust a dev key in production. Layer: api.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "KeyToolError",
    "load_public_key",
    "mint_token",
    "write_dev_keys",
]

PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"
_RSA_BITS = 2048


class KeyToolError(ValueError):
    """Bad key material or token parameters; the message reads ``"<field>: <reason>"``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def write_dev_keys(directory: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write a fresh RSA-2048 pair as ``private.pem`` (mode 0600) and ``public.pem``; return both paths.

    An existing private key is kept unless ``force`` is true: overwriting it silently would invalidate
    every token minted with it.
    """
    directory = Path(directory)
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if private_path.exists() and not force:
        raise KeyToolError("directory", f"{private_path} already exists; use force (--force) to replace it")
    if directory.exists() and not directory.is_dir():
        raise KeyToolError("directory", f"{directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # O_CREAT's mode does not apply to a file that already existed
        out.write(private_pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def load_public_key(source: Path | str | bytes, *, field: str = "jwt_public_key") -> rsa.RSAPublicKey:
    """The RSA public key in a PEM file (path) or PEM text (bytes); anything else is refused by name."""
    if isinstance(source, bytes):
        pem = source
    else:
        path = Path(source)
        if not path.is_file():
            raise KeyToolError(field, f"no such file ({path})")
        pem = path.read_bytes()
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as err:
        raise KeyToolError(field, f"not a PEM public key ({_origin(source)}): {err}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyToolError(field, f"must be an RSA public key for RS256, got {type(key).__name__}")
    return key


def mint_token(
    private_key_pem_path: Path | str,
    *,
    sub: str,
    scopes: str | Iterable[str],
    audience: str,
    lifetime_s: int = 3600,
    issuer: str = "utm6g-dev",
    now: datetime | None = None,
) -> str:
    """An RS256 JWT with the claims F3548 asks for (iss, sub, scope, aud, iat, nbf, exp, jti).

    ``scopes`` is an iterable of names or one space-separated string. ``now`` (default: the wall clock)
    lets a test mint a token that has already expired. The header's ``kid`` is the RFC 7638 thumbprint
    of the public key, so the same key published in a JWKS is found by ``kid``.
    """
    path = Path(private_key_pem_path)
    if not path.is_file():
        raise KeyToolError("private_key_pem_path", f"no such file ({path})")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise KeyToolError(
            "private_key_pem_path", f"not an unencrypted PEM private key ({path}): {err}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyToolError("private_key_pem_path", f"must be an RSA private key, got {type(key).__name__}")
    for name, value in (("sub", sub), ("audience", audience), ("issuer", issuer)):
        if not isinstance(value, str) or not value.strip():
            raise KeyToolError(name, f"must be a non-empty string (got {value!r})")
    if isinstance(lifetime_s, bool) or not isinstance(lifetime_s, int) or lifetime_s <= 0:
        raise KeyToolError("lifetime_s", f"must be a positive whole number of seconds (got {lifetime_s!r})")
    if now is not None and now.utcoffset() is None:
        raise KeyToolError("now", f"must be timezone-aware (got {now.isoformat()})")
    names = scopes.split() if isinstance(scopes, str) else [s for scope in scopes for s in scope.split()]
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "iss": issuer,
        "sub": sub,
        "scope": " ".join(names),
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + timedelta(seconds=lifetime_s),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": _key_id(key.public_key())})


def _key_id(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of an RSA public key."""
    numbers = public_key.public_numbers()
    members = {"e": _b64_uint(numbers.e), "kty": "RSA", "n": _b64_uint(numbers.n)}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _b64_uint(value: int) -> str:
    """Base64url of an unsigned big-endian integer, no padding (RFC 7518 §6.3.1)."""
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _origin(source: Path | str | bytes) -> str:
    """Where a PEM came from, for an error message."""
    return "PEM bytes" if isinstance(source, bytes) else str(source)
