"""Dev keys and tokens (api.keys) and the ``utm6g dev-keys`` / ``utm6g token`` commands."""

import base64
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.auth import TokenVerifier
from api.cli import main
from api.keys import KeyToolError, _key_id, load_public_key, mint_token, write_dev_keys

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def keydir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    write_dev_keys(directory)
    return directory


def _public(keydir: Path) -> rsa.RSAPublicKey:
    return serialization.load_pem_public_key((keydir / "public.pem").read_bytes())


def test_write_dev_keys_writes_a_matching_rsa_2048_pair_private_0600(keydir):
    private = serialization.load_pem_private_key((keydir / "private.pem").read_bytes(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    assert private.public_key().public_numbers() == _public(keydir).public_numbers()
    assert stat.S_IMODE((keydir / "private.pem").stat().st_mode) == 0o600


def test_write_dev_keys_refuses_to_overwrite_a_private_key_without_force(tmp_path):
    private_path, _ = write_dev_keys(tmp_path / "new" / "dir")  # parents are created
    before = private_path.read_bytes()
    with pytest.raises(KeyToolError, match="already exists") as refused:
        write_dev_keys(private_path.parent)
    assert refused.value.field == "directory"
    assert private_path.read_bytes() == before


def test_write_dev_keys_force_replaces_the_pair_and_restores_0600(tmp_path):
    private_path, public_path = write_dev_keys(tmp_path)
    old_public = public_path.read_bytes()
    private_path.chmod(0o644)
    write_dev_keys(tmp_path, force=True)
    assert public_path.read_bytes() != old_public
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600


def test_write_dev_keys_refuses_a_file_as_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(KeyToolError, match="not a directory"):
        write_dev_keys(tmp_path / "f")


def test_mint_token_carries_the_f3548_claims(keydir):
    token = mint_token(
        keydir / "private.pem",
        sub="uss1",
        scopes=["utm.strategic_coordination", "utm.conformance_monitoring_sa"],
        audience="utm.example.com",
        lifetime_s=600,
        now=T0,
    )
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token,
        _public(keydir),
        algorithms=["RS256"],
        audience="utm.example.com",
        options={"verify_exp": False},
    )
    assert header["alg"] == "RS256"
    assert claims["iss"] == "utm6g-dev" and claims["sub"] == "uss1" and claims["aud"] == "utm.example.com"
    assert claims["scope"] == "utm.strategic_coordination utm.conformance_monitoring_sa"
    assert claims["iat"] == claims["nbf"] == int(T0.timestamp())
    assert claims["exp"] == int(T0.timestamp()) + 600
    assert uuid.UUID(claims["jti"]).version == 4


def test_mint_token_accepts_a_space_separated_scope_string_and_fresh_jti(keydir):
    first, second = (
        jwt.decode(
            mint_token(keydir / "private.pem", sub="s", scopes=" a  b ", audience="aud"),
            _public(keydir),
            algorithms=["RS256"],
            audience="aud",
        )
        for _ in range(2)
    )
    assert first["scope"] == "a b"
    assert first["jti"] != second["jti"]


def test_key_id_is_the_rfc7638_thumbprint():
    """RFC 7638 §3.1: the example RSA key's SHA-256 thumbprint (oracle: the RFC's published value)."""
    n_b64 = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n"
        "3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0z"
        "gdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-cs"
        "FCur-kEgU8awapJzKnqDKgw"
    )
    n = int.from_bytes(base64.urlsafe_b64decode(n_b64 + "=" * (-len(n_b64) % 4)), "big")
    key = rsa.RSAPublicNumbers(65537, n).public_key()
    assert _key_id(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_mint_token_kid_names_the_public_key(keydir):
    token = mint_token(keydir / "private.pem", sub="s", scopes="", audience="aud")
    assert jwt.get_unverified_header(token)["kid"] == _key_id(_public(keydir))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sub": ""}, "sub"),
        ({"sub": "  "}, "sub"),
        ({"audience": ""}, "audience"),
        ({"issuer": ""}, "issuer"),
        ({"lifetime_s": 0}, "lifetime_s"),
        ({"lifetime_s": -5}, "lifetime_s"),
        ({"lifetime_s": 1.5}, "lifetime_s"),
        ({"lifetime_s": True}, "lifetime_s"),
        ({"now": datetime(2026, 3, 1, 12)}, "now"),
    ],
)
def test_mint_token_refuses_bad_parameters_by_name(keydir, kwargs, field):
    args = {"sub": "s", "scopes": "a", "audience": "aud"} | kwargs
    with pytest.raises(KeyToolError) as refused:
        mint_token(keydir / "private.pem", **args)
    assert refused.value.field == field


def test_mint_token_refuses_missing_public_and_non_rsa_private_keys(keydir, tmp_path):
    args = {"sub": "s", "scopes": "a", "audience": "aud"}
    with pytest.raises(KeyToolError, match="no such file"):
        mint_token(tmp_path / "absent.pem", **args)
    with pytest.raises(KeyToolError, match="not an unencrypted PEM private key"):
        mint_token(keydir / "public.pem", **args)
    ec_path = tmp_path / "ec.pem"
    ec_path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(KeyToolError, match="must be an RSA private key"):
        mint_token(ec_path, **args)


def test_load_public_key_reads_a_path_or_pem_bytes(keydir):
    pem = (keydir / "public.pem").read_bytes()
    expected = _public(keydir).public_numbers()
    assert load_public_key(keydir / "public.pem").public_numbers() == expected
    assert load_public_key(str(keydir / "public.pem")).public_numbers() == expected
    assert load_public_key(pem).public_numbers() == expected


def test_load_public_key_refuses_missing_garbage_private_and_ec(keydir, tmp_path):
    with pytest.raises(KeyToolError, match=r"jwt_public_key: no such file"):
        load_public_key(tmp_path / "absent.pem")
    with pytest.raises(KeyToolError, match="not a PEM public key"):
        load_public_key(b"not a key")
    with pytest.raises(KeyToolError, match="not a PEM public key"):
        load_public_key(keydir / "private.pem", field="--jwt-public-key")
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyToolError, match="must be an RSA public key"):
        load_public_key(ec_pem)


# --- utm6g dev-keys / utm6g token -------------------------------------------------------------------


def test_cli_dev_keys_then_token_round_trip_verifies(tmp_path, capsys):
    assert main(["dev-keys", str(tmp_path / "k")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [str(tmp_path / "k" / "private.pem"), str(tmp_path / "k" / "public.pem")]
    argv = ["token", "--key", str(tmp_path / "k"), "--sub", "op1", "--audience", "utm.test"]
    assert main([*argv, "--scope", "utm.strategic_coordination utm.constraint_processing"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    caller = TokenVerifier.from_pem(tmp_path / "k" / "public.pem", audience="utm.test").verify(out.strip())
    assert caller.sub == "op1"
    assert caller.scopes == {"utm.strategic_coordination", "utm.constraint_processing"}


def test_cli_token_lifetime_sets_exp(keydir, capsys):
    argv = ["token", "--key", str(keydir), "--sub", "s", "--scope", "a", "--audience", "aud"]
    assert main([*argv, "--lifetime-s", "60"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def test_cli_dev_keys_force(tmp_path, capsys):
    main(["dev-keys", str(tmp_path)])
    old = (tmp_path / "public.pem").read_bytes()
    assert main(["dev-keys", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "public.pem").read_bytes() != old


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    return captured.err


def test_cli_dev_keys_refuses_to_overwrite(keydir, capsys):
    err = _one_line_error(capsys, ["dev-keys", str(keydir)])
    assert err.startswith("utm6g dev-keys: error: directory:") and "--force" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lifetime-s", "abc"], "--lifetime-s: must be a whole number of seconds"),
        (["--lifetime-s", "0"], "lifetime_s: must be a positive whole number of seconds"),
        (["--lifetime-s", "-10"], "lifetime_s: must be a positive whole number of seconds"),
    ],
)
def test_cli_token_refuses_a_bad_lifetime(keydir, capsys, extra, message):
    argv = ["token", "--key", str(keydir), "--sub", "s", "--scope", "a", "--audience", "aud", *extra]
    assert message in _one_line_error(capsys, argv)


def test_cli_token_refuses_a_missing_key_directory_or_private_key(tmp_path, capsys):
    base = ["--sub", "s", "--scope", "a", "--audience", "aud"]
    err = _one_line_error(capsys, ["token", "--key", str(tmp_path / "absent"), *base])
    assert err.startswith("utm6g token: error: --key: no such directory")
    err = _one_line_error(capsys, ["token", "--key", str(tmp_path), *base])
    assert err.startswith("utm6g token: error: --key: no private.pem in")


def test_console_script_prints_only_the_token(keydir):
    """``TOKEN=$(utm6g token ...)`` must capture the token and nothing else."""
    script = Path(sys.executable).with_name("utm6g")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]
    args = ["token", "--key", str(keydir), "--sub", "s", "--scope", "a", "--audience", "aud"]
    result = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    token = result.stdout.removesuffix("\n")
    assert "\n" not in token
    assert TokenVerifier.from_pem(keydir / "public.pem", audience="aud").verify(token).sub == "s"
