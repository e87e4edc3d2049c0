"""Settings: command-line options and PYEHSM_* environment variables, validated once at start.

Worker processes (uvicorn --workers) receive the settings through the environment (to_env/from_env).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyehsm.errors import StartupError
from pyehsm.store.limits import DEFAULT_CACHED_KEYS, MAX_REPLAY_CAPACITY, MIN_REPLAY_CAPACITY

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


def parse_pool_depth(text: str) -> dict[str, int]:
    """ "EH_RSA_4096=8,EH_SM2=16" -> {"EH_RSA_4096": 8, "EH_SM2": 16} (unlisted keyspecs keep defaults)."""
    depth = dict(DEFAULT_POOL_DEPTH)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("=")
        if name not in DEFAULT_POOL_DEPTH or not (count.isascii() and count.isdigit()):
            raise StartupError(f"bad --pool-depth entry {item!r}: expected KEYSPEC=N for an asymmetric keyspec")
        depth[name] = int(count)
    return depth


QUOTE_PROVIDERS = ("auto", "configfs-tsm", "gramine", "simulated", "none")
TCB_ALLOW_CHOICES = ("SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded")


# SQLite mode: how many entries the mapped replay table holds (docs/operations.md, "Replay table at its
# limit"). Entries start overflowing to SQLite (slower) at about 75 % full, so the table is sized to keep
# its live entries under REPLAY_USABLE_FRACTION of it: 16 Mi entries are a 256 MiB file and cover
# ~9,800 signed requests/second sustained over the 20-minute retention (more than a 2-core node serves).
DEFAULT_REPLAY_CAPACITY = 1 << 24
REPLAY_USABLE_FRACTION = 0.7
DEFAULT_KEY_CACHE_ENTRIES = DEFAULT_CACHED_KEYS
MAX_KEY_CACHE_ENTRIES = 10_000_000
DEFAULT_RATE_LIMIT = 1000.0  # requests/second per app on a non-loopback bind (docs/operations.md)


DEFAULT_AWS_REGION = "us-east-1"
_AWS_REGION = re.compile(r"\A[a-z0-9]+(-[a-z0-9]+)*\Z")  # us-east-1, eu-central-2, us-gov-west-1, ...


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
    replay_capacity: int = DEFAULT_REPLAY_CAPACITY  # SQLite mode: mapped replay table entries (then SQLite)
    key_cache_entries: int = DEFAULT_KEY_CACHE_ENTRIES  # per worker: parsed keys and key rows (docs/operations.md)
    cache_ttl_ms: int = 500  # PostgreSQL: the most a cached key/app row may lag the database (store/cache.py)
    pg_pool_size: int = 10  # PostgreSQL: connections per process (plus one for LISTEN, up to 3 for grouped statements)
    pool_depth: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_POOL_DEPTH))
    tls_cert: str = ""
    tls_key: str = ""
    allow_plaintext: bool = False
    log_level: str = "info"
    audit_log: str = ""  # "" = off, "-" = stdout, else a file path (docs/audit.md)
    audit_mode: str = "best-effort"  # or "required": a request whose record cannot be written fails
    audit_node_id: str = ""  # "" = the host name (with --workers N, each worker adds ".<pid>")
    audit_checkpoint_records: int = 1000  # a signed checkpoint every N records ...
    audit_checkpoint_seconds: float = 60.0  # ... or every T seconds while records are unsigned
    audit_rotate_bytes: int = 0  # rotate the audit file at this size (0 = never)
    audit_rotate_seconds: float = 0.0  # rotate the audit file at this age (0 = never)
    audit_hash_names: bool = False  # record secret names and aliases as HMAC-SHA256 (`pyehsm audit hash`)
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For the audit record keeps
    secret_purge_seconds: float = 300.0  # how often a node removes secrets past their recovery window
    import_sweep_seconds: float = 300.0  # how often a node deletes expired BYOK import parameters
    key_rotation_seconds: float = 300.0  # how often a node rotates keys whose rotation period has passed
    # remote attestation (docs/protocol.md section 6, docs/attestation.md)
    collateral_dir: str = ""  # offline bundle of QuoteCollateralV3 JSON files, tried first ("" = none)
    pccs_url: str = ""  # PCCS / Intel PCS base URL, tried after the bundle ("" = never use the network)
    pccs_cache_entries: int = 64  # collateral sets cached on disk in data_dir/pccs-cache
    tcb_allow: tuple[str, ...] = ()  # TCB statuses VerifyQuote accepts besides UpToDate
    quote_provider: str = "auto"  # GenerateQuote: auto | configfs-tsm | gramine | simulated | none
    trust_simulated_roots: tuple[str, ...] = ()  # PEM files: simulated-quote roots VerifyQuote trusts
    # per-app rate limit (token bucket per appid and worker): requests/second, None = off on a loopback
    # bind and DEFAULT_RATE_LIMIT otherwise, 0 = off; burst 0 = twice the rate (at least 1)
    rate_limit: float | None = None
    rate_limit_burst: int = 0
    metrics: bool = True  # serve /metrics
    aws_region: str = DEFAULT_AWS_REGION  # the AWS KMS door's region: the one its ARNs name (docs/aws-kms.md)

    def __post_init__(self) -> None:
        # PYEHSM_SETTINGS is JSON, which turns tuples into lists
        for name in ("tcb_allow", "trust_simulated_roots", "trusted_proxies"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "pyehsm.db"

    @property
    def replay_path(self) -> Path:
        return self.data_dir / "replay.db"

    @property
    def replay_table_path(self) -> Path:
        return self.data_dir / "replay.table"

    @property
    def pccs_cache_dir(self) -> Path:
        return self.data_dir / "pccs-cache"

    @property
    def simulation_material_path(self) -> Path:
        """The simulated quote provider's PCK key and chain (0600), kept so restarts sign with the same chain."""
        return self.data_dir / "simulated-quote-signing.pem"

    @property
    def simulation_root_path(self) -> Path:
        """The simulated quote provider's root certificate, for --trust-simulated-root."""
        return self.data_dir / "simulated-quote-root.pem"

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
    def effective_rate_limit(self) -> tuple[float, int]:
        """(requests per second, burst) for each app; (0, 0) when rate limiting is off."""
        rate = self.rate_limit if self.rate_limit is not None else (0.0 if self.loopback else DEFAULT_RATE_LIMIT)
        if rate <= 0:
            return 0.0, 0
        return rate, self.rate_limit_burst or max(1, int(rate * 2))

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
        if self.quote_provider not in QUOTE_PROVIDERS:
            raise StartupError(f"--quote-provider must be one of {', '.join(QUOTE_PROVIDERS)}")
        unknown = sorted(set(self.tcb_allow) - set(TCB_ALLOW_CHOICES))
        if unknown:
            raise StartupError(f"--tcb-allow {unknown[0]!r}: must be one of {', '.join(TCB_ALLOW_CHOICES)}")
        if (self.rate_limit is not None and self.rate_limit < 0) or self.rate_limit_burst < 0:
            raise StartupError("--rate-limit and --rate-limit-burst must not be negative")
        if not MIN_REPLAY_CAPACITY <= self.replay_capacity <= MAX_REPLAY_CAPACITY:
            raise StartupError(
                f"--replay-capacity must be between {MIN_REPLAY_CAPACITY} and {MAX_REPLAY_CAPACITY} entries"
            )
        if self.audit_mode not in ("best-effort", "required"):
            raise StartupError("--audit-mode must be best-effort or required")
        if self.audit_checkpoint_records < 1 or self.audit_checkpoint_seconds <= 0:
            raise StartupError("--audit-checkpoint-records and --audit-checkpoint-seconds must be positive")
        if self.audit_rotate_bytes < 0 or self.audit_rotate_seconds < 0:
            raise StartupError("--audit-rotate-bytes and --audit-rotate-seconds must not be negative")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise StartupError(f"--trusted-proxy {cidr!r} is not an IP network (CIDR)") from None
        if len(self.aws_region) > 32 or not _AWS_REGION.match(self.aws_region):
            raise StartupError(
                f"--aws-region {self.aws_region!r}: expected a region name such as us-east-1 "
                "(lower-case letters, digits and dashes)"
            )
        if not 1 <= self.key_cache_entries <= MAX_KEY_CACHE_ENTRIES:
            raise StartupError(f"--key-cache-entries must be between 1 and {MAX_KEY_CACHE_ENTRIES}")
        if self.pccs_cache_entries < 1:
            raise StartupError("the PCCS cache must hold at least 1 entry")
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
        if env.get("PYEHSM_POOL_DEPTH"):
            kwargs["pool_depth"] = parse_pool_depth(env["PYEHSM_POOL_DEPTH"])
        for name, env_name in (
            ("cache_ttl_ms", "PYEHSM_CACHE_TTL_MS"),
            ("pg_pool_size", "PYEHSM_PG_POOL_SIZE"),
            ("replay_capacity", "PYEHSM_REPLAY_CAPACITY"),
            ("key_cache_entries", "PYEHSM_KEY_CACHE_ENTRIES"),
        ):
            if env.get(env_name):
                try:
                    kwargs[name] = int(env[env_name])
                except ValueError:
                    raise StartupError(f"{env_name} must be an integer") from None
        if env.get("PYEHSM_ENROLL_POLICY"):
            kwargs["enroll_policy"] = env["PYEHSM_ENROLL_POLICY"]
        if env.get("PYEHSM_SECRET_PURGE_SECONDS"):
            kwargs["secret_purge_seconds"] = float(env["PYEHSM_SECRET_PURGE_SECONDS"])
        if env.get("PYEHSM_IMPORT_SWEEP_SECONDS"):
            kwargs["import_sweep_seconds"] = float(env["PYEHSM_IMPORT_SWEEP_SECONDS"])
        if env.get("PYEHSM_KEY_ROTATION_SECONDS"):
            kwargs["key_rotation_seconds"] = float(env["PYEHSM_KEY_ROTATION_SECONDS"])
        for name, env_name in (
            ("collateral_dir", "PYEHSM_COLLATERAL_DIR"),
            ("pccs_url", "PYEHSM_PCCS_URL"),
            ("quote_provider", "PYEHSM_QUOTE_PROVIDER"),
            ("aws_region", "PYEHSM_AWS_REGION"),
        ):
            if env.get(env_name):
                kwargs[name] = env[env_name]
        if env.get("PYEHSM_RATE_LIMIT"):
            try:
                kwargs["rate_limit"] = float(env["PYEHSM_RATE_LIMIT"])
            except ValueError:
                raise StartupError("PYEHSM_RATE_LIMIT must be a number") from None
        if env.get("PYEHSM_TCB_ALLOW"):
            kwargs["tcb_allow"] = tuple(filter(None, (v.strip() for v in env["PYEHSM_TCB_ALLOW"].split(","))))
        if env.get("PYEHSM_TRUST_SIMULATED_ROOT"):
            kwargs["trust_simulated_roots"] = tuple(filter(None, env["PYEHSM_TRUST_SIMULATED_ROOT"].split(os.pathsep)))
        return cls(**kwargs)
