"""Simulated SGX quotes: build them and check them, for machines without a TEE (development, CI).

A simulated quote has the exact layout of an SGX version 3 ECDSA-P256 quote, but it is signed by a locally
generated chain ("simulation root CA" -> "simulation PCK", P-256) instead of Intel's. It proves nothing about
hardware: a verifier accepts one only when its root certificate was explicitly configured as trusted
(``verify_quote(..., trusted_simulation_roots=[root])``). The checks mirror DCAP's:

1. the PEM chain in the certification data (type 5) is canonical, chains leaf -> root by signature, and every
   certificate is valid at the verification time;
2. the QE report is signed by the PCK key;
3. the QE report's report_data is SHA-256(attestation key || QE auth data) followed by 32 zero bytes;
4. header + enclave report are signed by the attestation key.
Any flipped byte breaks one of them (the quote must also have no trailing bytes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import struct
import time
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

from pyehsm.attest.chain import (
    CERTIFICATE_ERRORS,
    ChainError,
    check_signatures,
    describe,
    embedded_chain,
    is_canonical,
)
from pyehsm.attest.quote import (
    ATTESTATION_KEY_ECDSA_P256,
    CERT_DATA_PCK_CHAIN_PEM,
    SGX_REPORT_SIZE,
    TEE_TYPE_SGX,
    ParsedQuote,
    QuoteFormatError,
    sgx_report_data,
)

SIMULATION_QE_VENDOR_ID: Final = b"pyehsm-simulated"  # 16 bytes; Intel's QE vendor id is 939a7233...
SIMULATION_ORGANIZATION: Final = "pyehsm simulation (not a TEE)"
SIMULATED_TCB_STATUS: Final = "Simulated"
_QE_MR_ENCLAVE: Final = hashlib.sha256(b"pyehsm simulated quoting enclave").digest()
_QE_MR_SIGNER: Final = hashlib.sha256(b"pyehsm simulated quoting enclave signer").digest()
_SGX_ATTRIBUTES: Final = struct.pack("<QQ", 0x05, 0x03)  # INIT | MODE64BIT (not DEBUG); XFRM x87 | SSE
_CURVE: Final = ec.SECP256R1()
_DAY: Final = 86_400


class SimulatedQuoteError(Exception):
    """A simulated quote failed one of its checks (the message says which)."""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SIMULATION_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _utc(secs: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(secs, tz=dt.UTC)


@dataclass(frozen=True)
class SimulationSigningMaterial:
    """The simulated PCK key and its two-certificate chain. The root's private key is not kept."""

    pck_key: ec.EllipticCurvePrivateKey
    pck_certificate: x509.Certificate
    root_certificate: x509.Certificate

    @classmethod
    def generate(cls, *, not_before_secs: int | None = None, lifetime_days: int = 3650) -> SimulationSigningMaterial:
        """A fresh root CA and PCK certificate, valid from ``not_before_secs`` (default: an hour ago)."""
        start = int(time.time()) - 3600 if not_before_secs is None else not_before_secs
        not_before, not_after = _utc(start), _utc(start + lifetime_days * _DAY)
        root_key = ec.generate_private_key(_CURVE)
        pck_key = ec.generate_private_key(_CURVE)
        root_name = _name("pyehsm simulation root CA")
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        pck = (
            x509.CertificateBuilder()
            .subject_name(_name("pyehsm simulation PCK"))
            .issuer_name(root_name)
            .public_key(pck_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        return cls(pck_key=pck_key, pck_certificate=pck, root_certificate=root)

    def root_certificate_pem(self) -> bytes:
        return self.root_certificate.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        """PCK certificate then root certificate, PEM (what goes into the quote's certification data)."""
        return self.pck_certificate.public_bytes(serialization.Encoding.PEM) + self.root_certificate_pem()

    def to_pem(self) -> bytes:
        """PCK private key (PKCS#8, unencrypted: store it 0600) followed by the chain."""
        key = self.pck_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return key + self.chain_pem()

    @classmethod
    def from_pem(cls, data: bytes) -> SimulationSigningMaterial:
        """Inverse of :meth:`to_pem`."""
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("simulation signing material must hold a P-256 private key")
        certs = x509.load_pem_x509_certificates(data)
        if len(certs) != 2:
            raise ValueError(f"simulation signing material must hold 2 certificates, found {len(certs)}")
        return cls(pck_key=key, pck_certificate=certs[0], root_certificate=certs[1])


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_public_key(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]


def sgx_report_body(
    *, mr_enclave: bytes, mr_signer: bytes, isv_prod_id: int, isv_svn: int, report_data: bytes
) -> bytes:
    """A 384-byte SGX report body (cpu_svn and reserved fields zero)."""
    if len(mr_enclave) != 32 or len(mr_signer) != 32 or len(report_data) != 64:
        raise ValueError("mr_enclave and mr_signer must be 32 bytes, report_data 64 bytes")
    body = (
        bytes(16)  # cpu_svn
        + bytes(4)  # misc_select
        + bytes(28)
        + _SGX_ATTRIBUTES
        + mr_enclave
        + bytes(32)
        + mr_signer
        + bytes(96)
        + struct.pack("<HH", isv_prod_id, isv_svn)
        + bytes(60)
        + report_data
    )
    assert len(body) == SGX_REPORT_SIZE
    return body


def build_simulated_quote(
    material: SimulationSigningMaterial,
    attestation_key: ec.EllipticCurvePrivateKey,
    *,
    mr_enclave: bytes,
    mr_signer: bytes,
    isv_prod_id: int,
    isv_svn: int,
    report_data: bytes,
) -> bytes:
    """An SGX v3 ECDSA-P256 quote over ``report_data`` (64 bytes) signed with the simulation chain."""
    header = struct.pack(
        "<HHIHH16s20s", 3, ATTESTATION_KEY_ECDSA_P256, TEE_TYPE_SGX, 0, 0, SIMULATION_QE_VENDOR_ID, bytes(20)
    )
    body = sgx_report_body(
        mr_enclave=mr_enclave,
        mr_signer=mr_signer,
        isv_prod_id=isv_prod_id,
        isv_svn=isv_svn,
        report_data=report_data,
    )
    att_pub = _raw_public_key(attestation_key.public_key())
    qe_auth = secrets.token_bytes(32)
    qe_report = sgx_report_body(
        mr_enclave=_QE_MR_ENCLAVE,
        mr_signer=_QE_MR_SIGNER,
        isv_prod_id=1,
        isv_svn=1,
        report_data=hashlib.sha256(att_pub + qe_auth).digest() + bytes(32),
    )
    chain = material.chain_pem()
    signature_data = (
        _sign_raw(attestation_key, header + body)
        + att_pub
        + qe_report
        + _sign_raw(material.pck_key, qe_report)
        + struct.pack("<H", len(qe_auth))
        + qe_auth
        + struct.pack("<HI", CERT_DATA_PCK_CHAIN_PEM, len(chain))
        + chain
    )
    return header + body + struct.pack("<I", len(signature_data)) + signature_data


def _public_key_from_raw(raw: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, b"\x04" + raw)
    except ValueError:
        raise SimulatedQuoteError("attestation key is not a P-256 point") from None


def _check_raw_signature(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, what: str) -> None:
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SimulatedQuoteError(f"{what} is invalid") from None


def _check_chain(certs: list[x509.Certificate], now_secs: int) -> ec.EllipticCurvePublicKey:
    now = _utc(now_secs)
    try:
        for cert in certs:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise SimulatedQuoteError(f"certificate {describe(cert)} is not valid at {now_secs}")
        check_signatures([*certs, certs[-1]])  # the root signs itself
        pck_key = certs[0].public_key()
    except ChainError as exc:
        raise SimulatedQuoteError(str(exc)) from None
    except CERTIFICATE_ERRORS:  # cryptography parses certificate fields lazily
        raise SimulatedQuoteError("a certificate of the chain is malformed") from None
    if not isinstance(pck_key, ec.EllipticCurvePublicKey) or not isinstance(pck_key.curve, ec.SECP256R1):
        raise SimulatedQuoteError("PCK certificate key is not P-256")
    return pck_key


def check_simulated_quote(quote: bytes, parsed: ParsedQuote, now_secs: int) -> None:
    """Check a simulated quote's structure, chain and signatures; raise SimulatedQuoteError on any failure.

    Whether its root is trusted is the caller's decision (see ``verify_quote``).
    """
    if parsed.quote_size != len(quote):
        raise SimulatedQuoteError("quote has trailing bytes")
    if parsed.tee != "SGX" or parsed.version != 3:
        raise SimulatedQuoteError("simulated quotes are SGX version 3")
    sig = parsed.signature
    certs = embedded_chain(parsed)
    if certs is None or len(certs) < 2 or sig.cert_data_type != CERT_DATA_PCK_CHAIN_PEM:
        raise SimulatedQuoteError("certification data is not a PEM certificate chain")
    if not is_canonical(parsed, certs):
        raise SimulatedQuoteError("certificate chain is not canonically encoded")
    pck_key = _check_chain(certs, now_secs)
    _check_raw_signature(pck_key, sig.qe_report_signature, sig.qe_report, "QE report signature")
    try:
        qe_report_data = sgx_report_data(sig.qe_report)
    except QuoteFormatError as exc:
        raise SimulatedQuoteError(str(exc)) from None
    expected = hashlib.sha256(sig.attestation_key + sig.qe_auth_data).digest() + bytes(32)
    if qe_report_data != expected:
        raise SimulatedQuoteError("QE report data does not bind the attestation key")
    attestation_key = _public_key_from_raw(sig.attestation_key)
    _check_raw_signature(attestation_key, sig.isv_signature, parsed.signed_data, "ISV enclave report signature")
