"""Settings: command-line options and PYEHSM_* environment variables, validated once at start.

Worker processes (uvicorn --workers) receive the settings through the environment (to_env/from_env).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyehsm.errors import StartupError

DEFAULT_POOL_DEPTH = {
    "EH_RSA_2048": 2,
    "EH_RSA_3072": 2,
    "EH_RSA_4096": 1,
    "EH_EC_P224": 4,
    "EH_EC_P256": 4,
    "EH_EC_P256K": 4,
    "EH_EC_P384": 4,
    "EH_EC_P521": 4,
    "EH_SM2": 4,
}


def default_data_dir() -> Path:
    return Path(os.environ.get("PYEHSM_DATA_DIR", "./pyehsm-data"))


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: Path = field(default_factory=default_data_dir)
    workers: int = 1
    store: str = ""  # "" = SQLite in data_dir; "postgresql://..." for PostgreSQL
    root_key: str = ""  # "" = file:<data_dir>/root.key
    enroll_policy: str = ""  # "" = open on a loopback bind, else closed (token when an admin token is set)
    admin_token: str = ""
    max_body_bytes: int = 64 * 1024
    replay_retention_ms: int = 20 * 60 * 1000
    key_cache_entries: int = 10_000
    pool_depth: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_POOL_DEPTH))
    tls_cert: str = ""
    tls_key: str = ""
    allow_plaintext: bool = False
    log_level: str = "info"
    audit_log: str = ""  # "" = off, "-" = stdout, else a file path

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "pyehsm.db"

    @property
    def replay_path(self) -> Path:
        return self.data_dir / "replay.db"

    @property
    def root_key_spec(self) -> str:
        return self.root_key or f"file:{self.data_dir / 'root.key'}"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def effective_enroll_policy(self) -> str:
        if self.enroll_policy:
            return self.enroll_policy
        if self.loopback:
            return "open"
        return "token" if self.admin_token else "closed"

    def validate(self) -> Settings:
        if self.enroll_policy not in ("", "open", "token", "closed"):
            raise StartupError("--enroll-policy must be open, token or closed")
        if self.effective_enroll_policy == "token" and not self.admin_token:
            raise StartupError("--enroll-policy token needs PYEHSM_ADMIN_TOKEN")
        if not self.loopback and not (self.tls_cert and self.tls_key) and not self.allow_plaintext:
            raise StartupError(
                f"refusing to serve plaintext HTTP on non-loopback address {self.host}: "
                "give --tls-cert/--tls-key, or --allow-plaintext behind a TLS-terminating proxy"
            )
        if self.workers < 1:
            raise StartupError("--workers must be at least 1")
        return self

    def to_env(self) -> dict[str, str]:
        """Everything a worker process needs to rebuild these settings (PYEHSM_SETTINGS)."""
        data: dict[str, Any] = dataclasses.asdict(self)
        data["data_dir"] = str(self.data_dir)
        return {"PYEHSM_SETTINGS": json.dumps(data)}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        raw = env.get("PYEHSM_SETTINGS")
        if raw:
            data = json.loads(raw)
            data["data_dir"] = Path(data["data_dir"])
            return cls(**data)
        kwargs: dict[str, Any] = {}
        if env.get("PYEHSM_STORE"):
            kwargs["store"] = env["PYEHSM_STORE"]
        if env.get("PYEHSM_ROOT_KEY"):
            kwargs["root_key"] = env["PYEHSM_ROOT_KEY"]
        if env.get("PYEHSM_ADMIN_TOKEN"):
            kwargs["admin_token"] = env["PYEHSM_ADMIN_TOKEN"]
        if env.get("PYEHSM_ENROLL_POLICY"):
            kwargs["enroll_policy"] = env["PYEHSM_ENROLL_POLICY"]
        return cls(**kwargs)
