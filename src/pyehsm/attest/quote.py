"""Parse Intel DCAP quotes: SGX (version 3, or 4 with TEE type SGX) and TDX (version 4). Pure, no I/O.

Layout (all integers little-endian), as in Intel's "SGX ECDSA Quote Library API" and "TDX DCAP Quote
Library API":

```
header            48  version u16 | attestation key type u16 | tee type u32 | qe_svn u16 | pce_svn u16 |
                      qe vendor id 16 | user data 20
report body      384  SGX enclave report (tee type 0x00)  |  584  TD report (tee type 0x81, version 4)
signature length   4  u32
signature data        ISV signature 64 (r||s) | attestation key 64 (x||y) | then
                      v3: QE report 384 | QE report signature 64 | QE auth data (u16 len) | cert data
                      v4: cert data of type 6 whose payload is the v3 tail above
cert data             type u16 | size u32 | payload (type 5 = PEM chain PCK -> intermediate -> root)
```
Bytes after the signature data are ignored (real TDX quotes carry zero padding); ``quote_size`` tells how
many bytes were parsed. Every malformed or truncated input raises :class:`QuoteFormatError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

TeeType = Literal["SGX", "TDX"]

HEADER_SIZE: Final = 48
SGX_REPORT_SIZE: Final = 384
TD_REPORT_SIZE: Final = 584
ECDSA_P256_SIZE: Final = 64
MAX_QUOTE_SIZE: Final = 1 << 20

TEE_TYPE_SGX: Final = 0x00000000
TEE_TYPE_TDX: Final = 0x00000081
ATTESTATION_KEY_ECDSA_P256: Final = 2
CERT_DATA_PCK_CHAIN_PEM: Final = 5
CERT_DATA_QE_REPORT: Final = 6

# SGX report body (also the layout of the QE report): (offset, size)
_SGX_CPU_SVN: Final = (0, 16)
_SGX_ATTRIBUTES: Final = (48, 16)
_SGX_MR_ENCLAVE: Final = (64, 32)
_SGX_MR_SIGNER: Final = (128, 32)
_SGX_ISV_PROD_ID: Final = 256  # then isv_svn u16 at 258
_SGX_REPORT_DATA: Final = (320, 64)

# TD report body, in order: name, size
_TD_FIELDS: Final = (
    ("tee_tcb_svn", 16),
    ("mr_seam", 48),
    ("mr_signer_seam", 48),
    ("seam_attributes", 8),
    ("td_attributes", 8),
    ("xfam", 8),
    ("mr_td", 48),
    ("mr_config_id", 48),
    ("mr_owner", 48),
    ("mr_owner_config", 48),
    ("rtmr0", 48),
    ("rtmr1", 48),
    ("rtmr2", 48),
    ("rtmr3", 48),
    ("report_data", 64),
)


class QuoteFormatError(ValueError):
    """The bytes are not a well-formed DCAP quote of a supported version."""


@dataclass(frozen=True, slots=True)
class QuoteSignature:
    """The ECDSA-P256 signature data of a quote (raw bytes, not checked here)."""

    isv_signature: bytes  # r || s over header + report body, by the attestation key
    attestation_key: bytes  # x || y of the attestation public key
    qe_report: bytes  # 384-byte SGX report of the quoting enclave
    qe_report_signature: bytes  # r || s over qe_report, by the PCK key
    qe_auth_data: bytes
    cert_data_type: int
    cert_data: bytes


@dataclass(frozen=True, slots=True)
class ParsedQuote:
    """A parsed quote. Measurements are lowercase hex; fields of the other TEE type are None."""

    version: int
    tee: TeeType
    attestation_key_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: str
    report_data: str
    signed_data: bytes = field(repr=False)  # header + report body: what isv_signature covers
    signature: QuoteSignature = field(repr=False)
    quote_size: int  # bytes parsed; trailing bytes beyond it are ignored
    # SGX enclave report
    mr_enclave: str | None = None
    mr_signer: str | None = None
    isv_prod_id: int | None = None
    isv_svn: int | None = None
    cpu_svn: str | None = None
    attributes: str | None = None
    # TD report
    tee_tcb_svn: str | None = None
    mr_seam: str | None = None
    mr_signer_seam: str | None = None
    seam_attributes: str | None = None
    td_attributes: str | None = None
    xfam: str | None = None
    mr_td: str | None = None
    mr_config_id: str | None = None
    mr_owner: str | None = None
    mr_owner_config: str | None = None
    rtmr0: str | None = None
    rtmr1: str | None = None
    rtmr2: str | None = None
    rtmr3: str | None = None

    @property
    def rtmrs(self) -> tuple[str, str, str, str] | None:
        if self.rtmr0 is None or self.rtmr1 is None or self.rtmr2 is None or self.rtmr3 is None:
            return None
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    @property
    def pck_chain_pem(self) -> bytes | None:
        """The embedded PEM certificate chain (leaf first), without trailing NULs; None if not type 5."""
        if self.signature.cert_data_type != CERT_DATA_PCK_CHAIN_PEM:
            return None
        return self.signature.cert_data.rstrip(b"\x00")


class _Reader:
    """Bounds-checked cursor: every read either succeeds or raises QuoteFormatError."""

    __slots__ = ("_data", "_end", "pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self.pos = start
        self._end = len(data) if end is None else end

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self._end - self.pos < size:
            raise QuoteFormatError(
                f"truncated quote: {what} needs {size} bytes at offset {self.pos}, {max(self._end - self.pos, 0)} left"
            )
        chunk = self._data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u16(self, what: str) -> int:
        value: int = struct.unpack("<H", self.take(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = struct.unpack("<I", self.take(4, what))[0]
        return value

    def sub(self, size: int, what: str) -> _Reader:
        """A reader over the next ``size`` bytes; this reader moves past them."""
        start = self.pos
        self.take(size, what)
        return _Reader(self._data, start, start + size)

    def at_end(self) -> bool:
        return self.pos == self._end


def _read_cert_data(reader: _Reader, what: str) -> tuple[int, bytes]:
    cert_type = reader.u16(f"{what} type")
    size = reader.u32(f"{what} size")
    return cert_type, reader.take(size, what)


def _read_qe_tail(reader: _Reader) -> tuple[bytes, bytes, bytes, int, bytes]:
    qe_report = reader.take(SGX_REPORT_SIZE, "QE report")
    qe_report_signature = reader.take(ECDSA_P256_SIZE, "QE report signature")
    auth_size = reader.u16("QE auth data size")
    qe_auth_data = reader.take(auth_size, "QE auth data")
    cert_type, cert_data = _read_cert_data(reader, "certification data")
    return qe_report, qe_report_signature, qe_auth_data, cert_type, cert_data


def _read_signature(reader: _Reader, version: int) -> QuoteSignature:
    isv_signature = reader.take(ECDSA_P256_SIZE, "ISV report signature")
    attestation_key = reader.take(ECDSA_P256_SIZE, "attestation key")
    if version == 3:
        qe_report, qe_sig, auth, cert_type, cert_data = _read_qe_tail(reader)
    else:
        outer_type = reader.u16("certification data type")
        if outer_type != CERT_DATA_QE_REPORT:
            raise QuoteFormatError(
                f"version 4 quote: certification data type {outer_type}, expected {CERT_DATA_QE_REPORT}"
            )
        outer = reader.sub(reader.u32("certification data size"), "QE report certification data")
        qe_report, qe_sig, auth, cert_type, cert_data = _read_qe_tail(outer)
        if not outer.at_end():
            raise QuoteFormatError("QE report certification data has bytes after its certification data")
    if not reader.at_end():
        raise QuoteFormatError("signature data has bytes after its certification data")
    return QuoteSignature(
        isv_signature=isv_signature,
        attestation_key=attestation_key,
        qe_report=qe_report,
        qe_report_signature=qe_sig,
        qe_auth_data=auth,
        cert_data_type=cert_type,
        cert_data=cert_data,
    )


def _field(body: bytes, span: tuple[int, int]) -> str:
    offset, size = span
    return body[offset : offset + size].hex()


def sgx_report_data(report: bytes) -> bytes:
    """The 64-byte report_data of a 384-byte SGX report body (e.g. the QE report)."""
    if len(report) != SGX_REPORT_SIZE:
        raise QuoteFormatError(f"SGX report body is {len(report)} bytes, expected {SGX_REPORT_SIZE}")
    offset, size = _SGX_REPORT_DATA
    return report[offset : offset + size]


class _Common(NamedTuple):
    version: int
    attestation_key_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: str
    signed_data: bytes
    signature: QuoteSignature
    quote_size: int


def _sgx_quote(common: _Common, body: bytes) -> ParsedQuote:
    isv_prod_id, isv_svn = struct.unpack_from("<HH", body, _SGX_ISV_PROD_ID)
    return ParsedQuote(
        **common._asdict(),
        tee="SGX",
        report_data=_field(body, _SGX_REPORT_DATA),
        mr_enclave=_field(body, _SGX_MR_ENCLAVE),
        mr_signer=_field(body, _SGX_MR_SIGNER),
        isv_prod_id=int(isv_prod_id),
        isv_svn=int(isv_svn),
        cpu_svn=_field(body, _SGX_CPU_SVN),
        attributes=_field(body, _SGX_ATTRIBUTES),
    )


def _td_quote(common: _Common, body: bytes) -> ParsedQuote:
    fields: dict[str, str] = {}
    offset = 0
    for name, size in _TD_FIELDS:
        fields[name] = body[offset : offset + size].hex()
        offset += size
    return ParsedQuote(
        **common._asdict(),
        tee="TDX",
        report_data=fields["report_data"],
        tee_tcb_svn=fields["tee_tcb_svn"],
        mr_seam=fields["mr_seam"],
        mr_signer_seam=fields["mr_signer_seam"],
        seam_attributes=fields["seam_attributes"],
        td_attributes=fields["td_attributes"],
        xfam=fields["xfam"],
        mr_td=fields["mr_td"],
        mr_config_id=fields["mr_config_id"],
        mr_owner=fields["mr_owner"],
        mr_owner_config=fields["mr_owner_config"],
        rtmr0=fields["rtmr0"],
        rtmr1=fields["rtmr1"],
        rtmr2=fields["rtmr2"],
        rtmr3=fields["rtmr3"],
    )


def parse_quote(quote: bytes) -> ParsedQuote:
    """Parse a DCAP quote; raise QuoteFormatError (only) when it is malformed or unsupported."""
    if not isinstance(quote, bytes | bytearray | memoryview):
        raise TypeError(f"quote must be bytes, not {type(quote).__name__}")
    data = bytes(quote)
    if len(data) > MAX_QUOTE_SIZE:
        raise QuoteFormatError(f"quote is {len(data)} bytes, more than the {MAX_QUOTE_SIZE} allowed")
    reader = _Reader(data)
    version = reader.u16("header version")
    key_type = reader.u16("header attestation key type")
    tee_raw = reader.u32("header TEE type")
    qe_svn = reader.u16("header QE SVN")
    pce_svn = reader.u16("header PCE SVN")
    qe_vendor_id = reader.take(16, "header QE vendor id").hex()
    reader.take(20, "header user data")

    if version not in (3, 4):
        raise QuoteFormatError(f"unsupported quote version {version} (supported: 3, 4)")
    if key_type != ATTESTATION_KEY_ECDSA_P256:
        raise QuoteFormatError(f"unsupported attestation key type {key_type} (supported: 2 = ECDSA-P256)")
    if tee_raw == TEE_TYPE_SGX:
        body = reader.take(SGX_REPORT_SIZE, "SGX report body")
    elif tee_raw == TEE_TYPE_TDX and version == 4:
        body = reader.take(TD_REPORT_SIZE, "TD report body")
    else:
        raise QuoteFormatError(f"unsupported TEE type 0x{tee_raw:x} for quote version {version}")

    signed_data = data[: reader.pos]
    signature_reader = reader.sub(reader.u32("signature data length"), "signature data")
    common = _Common(
        version=version,
        attestation_key_type=key_type,
        qe_svn=qe_svn,
        pce_svn=pce_svn,
        qe_vendor_id=qe_vendor_id,
        signed_data=signed_data,
        signature=_read_signature(signature_reader, version),
        quote_size=reader.pos,
    )
    return _sgx_quote(common, body) if tee_raw == TEE_TYPE_SGX else _td_quote(common, body)
