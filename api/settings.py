"""The service's settings: one pydantic-settings class, environment prefix ``UTM6G_``, validated at start-up.

It refuses unsafe configurations: without a token verification key (a PEM file or a JWKS URL) the server
does not start; there is no bypass switch. No module-level instance: ``create_app(settings)`` gets one
passed in. Layer: api.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, HttpUrl, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.keys import load_public_key

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Where the database lives, where to listen, who we are (``audience``) and whose tokens we trust."""

    model_config = SettingsConfigDict(env_prefix="UTM6G_", frozen=True, extra="forbid")

    db_path: Path = Path("utm6g.sqlite")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    audience: str = Field(min_length=1)  # the JWT ``aud`` we accept: our host name (F3548)
    jwt_public_key: Path | None = None
    jwks_url: HttpUrl | None = None
    region: Path | None = None  # a region.yaml to load
    max_area_km2: float = Field(default=2500.0, gt=0, allow_inf_nan=False)
    allow_equal_priority: bool = False
    runs_dir: Path | None = None  # a folder of simulation/recorded run folders served under /replay/v1
    tile_url: str | None = None  # the web map's optional background tiles, e.g. https://host/{z}/{x}/{y}.png

    @field_validator("audience")
    @classmethod
    def _audience_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("jwt_public_key")
    @classmethod
    def _pem_is_an_rsa_public_key(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_public_key(value)  # KeyToolError (a ValueError) names the file and what is wrong
        return value

    @field_validator("region")
    @classmethod
    def _region_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file ({value})")
        return value

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if value is not None:
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"must be an http(s) URL ({value})")
            missing = [p for p in ("{z}", "{x}", "{y}") if p not in value]
            if missing:
                raise ValueError(f"must contain {', '.join(missing)} (got {value})")
        return value

    @field_validator("runs_dir")
    @classmethod
    def _runs_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"no such directory ({value})")
        return value

    @model_validator(mode="after")
    def _one_verification_key(self) -> Self:
        if self.jwt_public_key is None and self.jwks_url is None:
            raise ValueError(
                "jwt_public_key or jwks_url: one is required; the server never runs unauthenticated"
            )
        if self.jwt_public_key is not None and self.jwks_url is not None:
            raise ValueError("jwt_public_key and jwks_url: give one, not both")
        return self
