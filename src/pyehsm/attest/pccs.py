"""Collateral from a PCCS (or Intel PCS) v4 API, with a bounded on-disk cache. The only networked part.

Requests mirror dcap-qvl's ``get_collateral`` (``{base}/{sgx|tdx}/certification/v4/...``), but go through
an httpx client that callers can inject (TLS settings, proxies, tests): dcap-qvl's own fetcher has a fixed
client that accepts any TLS certificate and cannot be tested without the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import dcap_qvl
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pyehsm.attest.chain import is_intel_root
from pyehsm.attest.collateral import (
    Collateral,
    CollateralUnavailable,
    PlatformIds,
    collateral_expiry,
    load_collateral,
    platform_ids,
    require_intel_chain,
)
from pyehsm.attest.quote import ParsedQuote

INTEL_PCS_URL: Final = "https://api.trustedservices.intel.com"
_CACHE_KEY_RE: Final = re.compile(r"(sgx|tdx)-(processor|platform)-[0-9a-f]{12}")
_HEX_RE: Final = re.compile(r"[0-9a-fA-F]+")


class CollateralCache:
    """Collateral on disk, one JSON file per (tee, ca, fmspc), at most ``max_entries`` files.

    An entry is returned only while ``now < expires`` (its earliest nextUpdate). Writing an entry beyond
    the bound evicts the oldest written ones. Files are replaced atomically, so several processes may share
    the directory.
    """

    def __init__(self, directory: str | os.PathLike[str], max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._dir = Path(directory)
        self._max = max_entries

    def _path(self, key: str) -> Path:
        if not _CACHE_KEY_RE.fullmatch(key):
            raise ValueError(f"bad collateral cache key {key!r}")
        return self._dir / f"{key}.json"

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("seq"), int)
            and isinstance(entry.get("expires"), int)
            and isinstance(entry.get("collateral"), str)
        )
        return entry if ok else None

    def keys(self) -> list[str]:
        """Cached keys, oldest first."""
        entries = []
        for path in self._dir.glob("*.json"):
            entry = self._read(path)
            if entry is not None and _CACHE_KEY_RE.fullmatch(path.stem):
                entries.append((int(entry["seq"]), path.stem))
        return [key for _, key in sorted(entries)]

    def load(self, key: str, now_secs: int) -> Collateral | None:
        entry = self._read(self._path(key))
        if entry is None or now_secs >= int(entry["expires"]):
            return None
        try:
            return load_collateral(str(entry["collateral"]))
        except CollateralUnavailable:
            return None

    def store(self, key: str, collateral: Collateral, expires: int) -> None:
        path = self._path(key)
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        seqs = [int(e["seq"]) for p in self._dir.glob("*.json") if (e := self._read(p)) is not None]
        entry = {"seq": max(seqs, default=0) + 1, "expires": expires, "collateral": collateral.to_json()}
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(entry, handle)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        for old in self.keys()[: -self._max]:
            with contextlib.suppress(OSError):
                self._path(old).unlink()


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _raw_json_members(text: str) -> dict[str, str]:
    """The top-level members of a JSON object as their exact source text (signatures cover those bytes)."""
    decoder = json.JSONDecoder()
    members: dict[str, str] = {}
    pos = _skip_ws(text, 0)
    if text[pos : pos + 1] != "{":
        raise ValueError("not a JSON object")
    pos = _skip_ws(text, pos + 1)
    if text[pos : pos + 1] == "}":
        return members
    while True:
        key, pos = decoder.raw_decode(text, pos)
        if not isinstance(key, str):
            raise ValueError("object key is not a string")
        pos = _skip_ws(text, pos)
        if text[pos : pos + 1] != ":":
            raise ValueError("expected ':'")
        pos = _skip_ws(text, pos + 1)
        _, end = decoder.raw_decode(text, pos)
        members[key] = text[pos:end]
        pos = _skip_ws(text, end)
        if text[pos : pos + 1] == "}":
            return members
        if text[pos : pos + 1] != ",":
            raise ValueError("expected ',' or '}'")
        pos = _skip_ws(text, pos + 1)


def _signed_json(body: str, field: str, what: str) -> tuple[str, bytes]:
    """(exact text of ``field``, signature bytes) of a PCS response like {"tcbInfo": {...}, "signature": hex}."""
    try:
        members = _raw_json_members(body)
        signature = json.loads(members["signature"])
        return members[field], bytes.fromhex(signature)
    except (ValueError, KeyError, TypeError, RecursionError):
        raise CollateralUnavailable(f"PCCS {what} response is not {{{field!r}, 'signature'}} JSON") from None


def _crl_der(body: bytes) -> bytes:
    """A CRL as DER whether the server sent DER, PEM or hex-encoded DER (PCCS sends hex for the root CRL)."""
    data = body.strip()
    if data.startswith(b"-----BEGIN"):
        with contextlib.suppress(ValueError):
            return x509.load_pem_x509_crl(data).public_bytes(serialization.Encoding.DER)
    elif _HEX_RE.fullmatch(data.decode("ascii", "replace")):
        data = bytes.fromhex(data.decode("ascii"))
    try:
        x509.load_der_x509_crl(data)
    except ValueError:
        raise CollateralUnavailable("PCCS returned a CRL that is not DER, PEM or hex") from None
    return data


class PccsProvider:
    """Collateral fetched from a PCCS (or Intel PCS) v4 API, cached on disk (see :class:`CollateralCache`).

    Requests mirror dcap-qvl's ``get_collateral`` (``{base}/{sgx|tdx}/certification/v4/...``), but go
    through an httpx client that callers can inject (TLS settings, proxies, tests). Nothing is fetched for
    a quote whose PCK chain is not signed up to Intel's root. The network is used only by this provider.
    """

    def __init__(
        self,
        base_url: str,
        cache_dir: str | os.PathLike[str],
        max_cache_entries: int = 64,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_secs: float = 30.0,
        max_response_bytes: int = 8 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        base = base_url.strip().rstrip("/")
        for suffix in ("/sgx/certification/v4", "/tdx/certification/v4"):
            base = base.removesuffix(suffix)
        if not base.startswith(("https://", "http://")):
            raise ValueError(f"PCCS URL must be http(s): {base_url!r}")
        self._base = base
        self._cache = CollateralCache(cache_dir, max_cache_entries)
        self._client = client or httpx.AsyncClient(timeout=timeout_secs)
        self._owns_client = client is None
        self._max_bytes = max_response_bytes
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def cache(self) -> CollateralCache:
        return self._cache

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def get_collateral(self, quote: bytes, parsed: ParsedQuote, *, now_secs: int | None = None) -> Collateral:
        now = int(self._clock()) if now_secs is None else now_secs
        ids = platform_ids(quote)
        require_intel_chain(parsed)
        key = f"{parsed.tee.lower()}-{ids.ca}-{ids.fmspc}"
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = await asyncio.to_thread(self._cache.load, key, now)
            if cached is not None:
                return cached
            collateral = await self._fetch(parsed.tee.lower(), ids)
            expires = collateral_expiry(collateral)
            if expires > now:
                await asyncio.to_thread(self._cache.store, key, collateral, expires)
            return collateral

    async def _get(self, url: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        try:
            response = await self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise CollateralUnavailable(f"PCCS request {url} failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise CollateralUnavailable(f"PCCS {url} answered HTTP {response.status_code}")
        if len(response.content) > self._max_bytes:
            raise CollateralUnavailable(f"PCCS {url} answered more than {self._max_bytes} bytes")
        return response

    @staticmethod
    def _header(response: httpx.Response, *names: str) -> str:
        for name in names:
            value = response.headers.get(name)
            if value:
                return urllib.parse.unquote(value)
        raise CollateralUnavailable(f"PCCS response lacks the {names[0]} header")

    async def _root_ca_crl(self, issuer_chain_pem: str) -> bytes:
        if not self._base.startswith(INTEL_PCS_URL):
            with contextlib.suppress(CollateralUnavailable):
                return _crl_der((await self._get(f"{self._base}/sgx/certification/v4/rootcacrl")).content)
        try:
            root = x509.load_pem_x509_certificates(issuer_chain_pem.encode())[-1]
            points = root.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except (ValueError, IndexError, x509.ExtensionNotFound):
            raise CollateralUnavailable("cannot find the root CA CRL distribution point") from None
        if not is_intel_root(root):
            raise CollateralUnavailable("PCCS issuer chain does not end at the Intel SGX Root CA")
        urls = [
            name.value
            for point in points
            for name in point.full_name or []
            if isinstance(name, x509.UniformResourceIdentifier)
        ]
        if not urls:
            raise CollateralUnavailable("the Intel root certificate names no CRL distribution point")
        return _crl_der((await self._get(urls[0])).content)

    async def _fetch(self, tee: str, ids: PlatformIds) -> Collateral:
        v4 = f"{self._base}/{{}}/certification/v4"
        pck = await self._get(f"{v4.format('sgx')}/pckcrl", {"ca": ids.ca, "encoding": "der"})
        tcb = await self._get(f"{v4.format(tee)}/tcb", {"fmspc": ids.fmspc.upper()})
        qe = await self._get(f"{v4.format(tee)}/qe/identity", {"update": "standard"})
        tcb_info, tcb_signature = _signed_json(tcb.text, "tcbInfo", "TCB info")
        qe_identity, qe_signature = _signed_json(qe.text, "enclaveIdentity", "QE identity")
        qe_chain = self._header(qe, "SGX-Enclave-Identity-Issuer-Chain")
        try:
            collateral: Collateral = dcap_qvl.QuoteCollateralV3(
                self._header(pck, "SGX-PCK-CRL-Issuer-Chain"),
                await self._root_ca_crl(qe_chain),
                _crl_der(pck.content),
                self._header(tcb, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
                tcb_info,
                tcb_signature,
                qe_chain,
                qe_identity,
                qe_signature,
            )
        except (ValueError, TypeError) as exc:
            raise CollateralUnavailable(f"PCCS collateral is unusable: {exc}") from None
        return collateral
