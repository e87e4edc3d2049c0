"""The PEM certificate chain embedded in a quote (certification data type 5): read it, check its encoding.

DCAP verifiers parse this PEM leniently (a newline turned into another whitespace byte still parses), so a
quote could be altered without failing verification. pyehsm additionally requires the chain to be encoded
exactly as ``cryptography`` re-encodes it (optionally followed by NUL bytes, as Intel's quoting enclave
writes it), and an Intel chain to end at the exact Intel SGX Root CA certificate.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from pyehsm.attest.quote import ParsedQuote

# SHA-256 of the DER of "Intel SGX Root CA" (2018-05-21 .. 2049-12-31), the root of every SGX/TDX PCK chain.
INTEL_SGX_ROOT_CA_SHA256: Final = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"


# What cryptography raises for a malformed certificate, when it is loaded (e.g. InvalidVersion: a version
# field other than v1..v3) or later, as it parses fields lazily (ValueError, DuplicateExtension, ...; an
# unknown public key algorithm is UnsupportedAlgorithm only once the key is used). None are ValueErrors.
CERTIFICATE_ERRORS: Final = (
    ValueError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    UnsupportedAlgorithm,
)


class ChainError(Exception):
    """The embedded certificate chain is not signed up to its last certificate."""


def certificate_der(data: bytes) -> bytes:
    """DER of one certificate given as PEM or DER (raises ValueError when it is neither)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
    except x509.InvalidVersion as exc:
        raise ValueError(f"not an X.509 certificate: {exc}") from None
    return cert.public_bytes(serialization.Encoding.DER)


def embedded_chain(parsed: ParsedQuote) -> list[x509.Certificate] | None:
    """The certificates of a type-5 certification data (leaf first); None when absent or unparsable."""
    pem = parsed.pck_chain_pem
    if pem is None:
        return None
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except CERTIFICATE_ERRORS:
        return None
    return certs or None


def _whole_byte_signature(cert: x509.Certificate) -> bool:
    """Whether the signature BIT STRING (the last field of the DER) has 0 unused bits, as RFC 5280 requires.

    cryptography verifies a signature whose BIT STRING claims unused bits (when they are zero), so without
    this check that byte of a certificate could change without failing its verification.
    """
    der = cert.public_bytes(serialization.Encoding.DER)
    return der[-len(cert.signature) - 1] == 0


def is_canonical(parsed: ParsedQuote, certs: list[x509.Certificate]) -> bool:
    """Whether the certification data is exactly the PEM re-encoding of ``certs`` plus optional NULs, and
    every certificate's signature is a whole number of bytes."""
    canonical = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)
    data = parsed.signature.cert_data
    if not data.startswith(canonical) or data[len(canonical) :].strip(b"\x00"):
        return False
    try:
        return all(_whole_byte_signature(cert) for cert in certs)
    except CERTIFICATE_ERRORS:
        return False


def is_intel_root(cert: x509.Certificate) -> bool:
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return hmac.compare_digest(digest, INTEL_SGX_ROOT_CA_SHA256)


def describe(cert: x509.Certificate) -> str:
    """The subject of a certificate for messages; cryptography parses fields lazily, so this may fail."""
    try:
        return cert.subject.rfc4514_string()
    except CERTIFICATE_ERRORS:
        return "(unparsable subject)"


def check_signatures(certs: list[x509.Certificate]) -> None:
    """Each certificate is signed by the next one, and every issuer is a CA; raise ChainError if not."""
    for child, issuer in itertools.pairwise(certs):
        try:
            is_ca = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except (x509.ExtensionNotFound, *CERTIFICATE_ERRORS):
            is_ca = False
        if not is_ca:
            raise ChainError(f"certificate {describe(issuer)} is not a CA")
        try:
            child.verify_directly_issued_by(issuer)
        except (TypeError, InvalidSignature, *CERTIFICATE_ERRORS):
            raise ChainError(f"certificate {describe(child)} is not signed by its issuer") from None
