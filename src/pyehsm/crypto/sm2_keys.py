"""SM2 (GB/T 32918, GM/T 0003) signatures and public-key encryption via the system OpenSSL 3 libcrypto.

The key classes; the ctypes binding is :mod:`pyehsm.crypto.libcrypto` and the SM2 key family (wire
parameters, BYOK) is :mod:`pyehsm.crypto.sm2`. Every elliptic-curve operation happens inside OpenSSL.  Formats:

* private keys: unencrypted PKCS#8 ``PrivateKeyInfo`` DER (OpenSSL encodes SM2 keys as
  ``id-ecPublicKey`` with the named curve ``sm2`` = 1.2.156.10197.1.301);
* public keys: X.509 ``SubjectPublicKeyInfo`` (DER or ``-----BEGIN PUBLIC KEY-----`` PEM);
* signatures: DER ``SEQUENCE { r INTEGER, s INTEGER }`` over ``e = SM3(Z_A || M)``;
* ciphertexts: GM/T 0009 DER ``SEQUENCE { x INTEGER, y INTEGER, C3 OCTET STRING(32), C2 OCTET STRING }``
  (C1C3C2, what OpenSSL 3 produces and accepts).

Key objects are immutable and may be shared between threads: every operation creates its own
``EVP_PKEY_CTX``/``EVP_MD_CTX``.  ctypes drops the GIL while libcrypto runs.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import re
from collections.abc import Callable
from ctypes import byref, c_size_t, c_void_p
from typing import Final, NoReturn

from cryptography.hazmat.primitives import hashes

from pyehsm.crypto.libcrypto import (
    DIGEST_BYTES,
    PKey,
    SM2Error,
    check,
    clear_errors,
    d2i,
    fail,
    is_der_sm2_ciphertext,
    libcrypto,
    new_ctx,
    out_ptr,
    public_point,
    require_sm2,
    spki_der,
)

__all__ = [
    "DEFAULT_USER_ID",
    "SM2Error",
    "SM2PrivateKey",
    "SM2PublicKey",
    "generate_private_key",
]

DEFAULT_USER_ID: bytes = b"1234567812345678"

# ENTL_A is a 16-bit count of ID *bits*; OpenSSL rejects ids of UINT16_MAX // 8 bytes or more.
_MAX_USER_ID_BYTES: Final = 0xFFFF // 8 - 1

# SM2 recommended curve parameters (GB/T 32918.5), used only to build Z_A.
_SM2_A: Final = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_SM2_B: Final = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_SM2_GX: Final = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
_SM2_GY: Final = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")

_PEM_RE: Final = re.compile(rb"-----BEGIN PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----")


def _check_user_id(user_id: bytes) -> None:
    if len(user_id) > _MAX_USER_ID_BYTES:
        raise SM2Error("SM2 user id too long")


def _check_digest(e: bytes) -> None:
    if len(e) != DIGEST_BYTES:
        raise SM2Error("SM2 digest e must be 32 bytes")


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


class SM2PublicKey:
    """An SM2 public key: verification, Z_A computation and encryption."""

    __slots__ = ("_key", "_point", "_spki")

    def __init__(self, _key: PKey) -> None:
        """Internal: use :meth:`from_spki_der`, :meth:`from_pem` or :meth:`SM2PrivateKey.public_key`."""
        lib = libcrypto()
        self._key = _key
        self._spki = spki_der(lib, _key)
        self._point = public_point(lib, _key)

    @classmethod
    def from_spki_der(cls, der: bytes) -> SM2PublicKey:
        lib = libcrypto()
        try:
            key = PKey(d2i(lib, lib.d2i_PUBKEY, lib.EVP_PKEY_free, der, "SM2 public key"))
            require_sm2(lib, key, "public key")
            # Always re-emit uncompressed points, even for a compressed input encoding.
            if lib.EVP_PKEY_set_utf8_string_param(key.ptr, b"point-format", b"uncompressed") != 1:
                fail(lib, "malformed SM2 public key")
            ctx = new_ctx(lib, key)
            try:
                # On-curve and not infinity; SM2's cofactor is 1, so the full n*Q check adds nothing.
                check(lib, lib.EVP_PKEY_public_check_quick(ctx), "invalid SM2 public key")
            finally:
                lib.EVP_PKEY_CTX_free(ctx)
            return cls(key)
        finally:
            clear_errors(lib)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SM2PublicKey:
        data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
        m = _PEM_RE.search(data)
        if m is None:
            raise SM2Error("malformed SM2 public key PEM")
        try:
            der = base64.b64decode(b"".join(m.group(1).split()), validate=True)
        except (binascii.Error, ValueError):
            raise SM2Error("malformed SM2 public key PEM") from None
        return cls.from_spki_der(der)

    def to_spki_der(self) -> bytes:
        return self._spki

    def to_pem(self) -> str:
        b64 = base64.b64encode(self._spki).decode("ascii")
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"

    def z_value(self, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A): what z_digest hashes first
        (streaming callers: ``SM3(Z_A || M)`` over M in pieces)."""
        _check_user_id(user_id)
        z = hashes.Hash(hashes.SM3())
        z.update((len(user_id) * 8).to_bytes(2, "big"))
        z.update(user_id)
        z.update(_SM2_A + _SM2_B + _SM2_GX + _SM2_GY + self._point)
        return z.finalize()

    def z_digest(self, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """e = SM3(Z_A || M) with Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A)."""
        e = hashes.Hash(hashes.SM3())
        e.update(self.z_value(user_id))
        e.update(message)
        return e.finalize()

    def verify(self, signature: bytes, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bool:
        """True iff ``signature`` is a valid DER SM2 signature of ``message`` for ``user_id``."""
        if len(user_id) > _MAX_USER_ID_BYTES:
            return False
        lib = libcrypto()
        mctx: int | None = lib.EVP_MD_CTX_new()
        if not mctx:
            fail(lib, "cannot create an SM2 verification context")
        pctx = None
        try:
            pctx = new_ctx(lib, self._key)
            if lib.EVP_PKEY_CTX_set1_id(pctx, bytes(user_id), len(user_id)) != 1:
                fail(lib, "cannot set SM2 user id")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            check(
                lib,
                lib.EVP_DigestVerifyInit_ex(mctx, None, b"SM3", None, None, self._key.ptr, None),
                "cannot initialise SM2 verification",
            )
            rc = lib.EVP_DigestVerify(mctx, bytes(signature), len(signature), bytes(message), len(message))
            return bool(rc == 1)
        finally:
            # The MD_CTX does not own a pkey ctx installed with EVP_MD_CTX_set_pkey_ctx.
            lib.EVP_MD_CTX_free(mctx)
            if pctx:
                lib.EVP_PKEY_CTX_free(pctx)
            clear_errors(lib)

    def verify_digest(self, signature: bytes, e: bytes) -> bool:
        """True iff ``signature`` is a valid DER SM2 signature of the precomputed e = SM3(Z_A || M)."""
        if len(e) != DIGEST_BYTES:
            return False
        lib = libcrypto()
        ctx = new_ctx(lib, self._key)
        try:
            check(lib, lib.EVP_PKEY_verify_init(ctx), "cannot initialise SM2 verification")
            rc = lib.EVP_PKEY_verify(ctx, bytes(signature), len(signature), bytes(e), len(e))
            return bool(rc == 1)
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            clear_errors(lib)

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2-encrypt ``plaintext`` (with SM3 as KDF/C3 hash) to GM/T 0009 DER C1C3C2."""
        if len(plaintext) == 0:
            raise SM2Error("SM2 cannot encrypt an empty plaintext")
        lib = libcrypto()
        data = bytes(plaintext)
        ctx = new_ctx(lib, self._key)
        try:
            check(lib, lib.EVP_PKEY_encrypt_init(ctx), "cannot initialise SM2 encryption")
            outlen = c_size_t(0)
            check(lib, lib.EVP_PKEY_encrypt(ctx, None, byref(outlen), data, len(data)), "SM2 encryption failed")
            out = ctypes.create_string_buffer(outlen.value)
            check(lib, lib.EVP_PKEY_encrypt(ctx, out, byref(outlen), data, len(data)), "SM2 encryption failed")
            return out.raw[: outlen.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            clear_errors(lib)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SM2PublicKey):
            return NotImplemented
        return self._spki == other._spki

    def __hash__(self) -> int:
        return hash(self._spki)

    def __repr__(self) -> str:
        return "<SM2PublicKey>"

    def __reduce__(self) -> tuple[Callable[[bytes], SM2PublicKey], tuple[bytes]]:
        return (SM2PublicKey.from_spki_der, (self._spki,))

    def __copy__(self) -> SM2PublicKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> SM2PublicKey:
        return self


class SM2PrivateKey:
    """An SM2 private key: signing and decryption.  Holds its key only inside libcrypto."""

    __slots__ = ("_key", "_public")

    def __init__(self, _key: PKey) -> None:
        """Internal: use :func:`generate_private_key` or :meth:`from_pkcs8_der`."""
        self._key = _key
        self._public = SM2PublicKey.from_spki_der(spki_der(libcrypto(), _key))

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> SM2PrivateKey:
        lib = libcrypto()
        try:
            # Strictly PKCS#8 (d2i_AutoPrivateKey would also take SEC1 ECPrivateKey and others).
            p8 = d2i(lib, lib.d2i_PKCS8_PRIV_KEY_INFO, lib.PKCS8_PRIV_KEY_INFO_free, der, "SM2 private key")
            try:
                ptr: int | None = lib.EVP_PKCS82PKEY(p8)
            finally:
                lib.PKCS8_PRIV_KEY_INFO_free(p8)  # clears the embedded key octets
            if not ptr:
                fail(lib, "malformed SM2 private key")
            key = PKey(ptr)
            require_sm2(lib, key, "private key")
            ctx = new_ctx(lib, key)
            try:
                # 1 <= d < n, and the embedded public point really is d*G.
                check(lib, lib.EVP_PKEY_private_check(ctx), "invalid SM2 private key")
                check(lib, lib.EVP_PKEY_pairwise_check(ctx), "invalid SM2 private key")
            finally:
                lib.EVP_PKEY_CTX_free(ctx)
            return cls(key)
        finally:
            clear_errors(lib)

    def to_pkcs8_der(self) -> bytes:
        """Unencrypted PKCS#8 PrivateKeyInfo (id-ecPublicKey, namedCurve sm2)."""
        lib = libcrypto()
        p8: int | None = lib.EVP_PKEY2PKCS8(self._key.ptr)
        if not p8:
            fail(lib, "cannot encode SM2 private key")
        try:
            n = int(lib.i2d_PKCS8_PRIV_KEY_INFO(p8, None))
            if n <= 0:
                fail(lib, "cannot encode SM2 private key")
            buf = ctypes.create_string_buffer(n)
            try:
                if lib.i2d_PKCS8_PRIV_KEY_INFO(p8, byref(out_ptr(buf))) != n:
                    fail(lib, "cannot encode SM2 private key")
                return buf.raw
            finally:
                lib.OPENSSL_cleanse(buf, n)
        finally:
            lib.PKCS8_PRIV_KEY_INFO_free(p8)
            clear_errors(lib)

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign(self, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """DER SM2 signature of e = SM3(Z_A || message), Z_A over ``user_id`` and this key."""
        _check_user_id(user_id)
        lib = libcrypto()
        mctx: int | None = lib.EVP_MD_CTX_new()
        if not mctx:
            fail(lib, "cannot create an SM2 signing context")
        pctx = None
        try:
            pctx = new_ctx(lib, self._key)
            check(lib, lib.EVP_PKEY_CTX_set1_id(pctx, bytes(user_id), len(user_id)), "cannot set SM2 user id")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            check(
                lib,
                lib.EVP_DigestSignInit_ex(mctx, None, b"SM3", None, None, self._key.ptr, None),
                "cannot initialise SM2 signing",
            )
            data = bytes(message)
            siglen = c_size_t(0)
            check(lib, lib.EVP_DigestSign(mctx, None, byref(siglen), None, 0), "SM2 signing failed")
            sig = ctypes.create_string_buffer(siglen.value)
            check(lib, lib.EVP_DigestSign(mctx, sig, byref(siglen), data, len(data)), "SM2 signing failed")
            return sig.raw[: siglen.value]
        finally:
            lib.EVP_MD_CTX_free(mctx)
            if pctx:
                lib.EVP_PKEY_CTX_free(pctx)
            clear_errors(lib)

    def sign_digest(self, e: bytes) -> bytes:
        """DER SM2 signature of a precomputed 32-byte e = SM3(Z_A || M), see :meth:`SM2PublicKey.z_digest`."""
        _check_digest(e)
        lib = libcrypto()
        ctx = new_ctx(lib, self._key)
        try:
            check(lib, lib.EVP_PKEY_sign_init(ctx), "cannot initialise SM2 signing")
            data = bytes(e)
            siglen = c_size_t(0)
            check(lib, lib.EVP_PKEY_sign(ctx, None, byref(siglen), data, len(data)), "SM2 signing failed")
            sig = ctypes.create_string_buffer(siglen.value)
            check(lib, lib.EVP_PKEY_sign(ctx, sig, byref(siglen), data, len(data)), "SM2 signing failed")
            return sig.raw[: siglen.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            clear_errors(lib)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt a GM/T 0009 DER C1C3C2 ciphertext; SM2Error if it is malformed or fails its C3 check."""
        lib = libcrypto()
        data = bytes(ciphertext)
        if not is_der_sm2_ciphertext(data):
            raise SM2Error("SM2 decryption failed")
        ctx = new_ctx(lib, self._key)
        try:
            check(lib, lib.EVP_PKEY_decrypt_init(ctx), "cannot initialise SM2 decryption")
            outlen = c_size_t(0)
            check(lib, lib.EVP_PKEY_decrypt(ctx, None, byref(outlen), data, len(data)), "SM2 decryption failed")
            size = max(outlen.value, len(data))
            out = ctypes.create_string_buffer(size)
            outlen.value = size
            try:
                rc = lib.EVP_PKEY_decrypt(ctx, out, byref(outlen), data, len(data))
                check(lib, rc, "SM2 decryption failed")
                return out.raw[: outlen.value]
            finally:
                lib.OPENSSL_cleanse(out, size)
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            clear_errors(lib)

    def __repr__(self) -> str:
        return "<SM2PrivateKey>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("SM2PrivateKey cannot be pickled; export it with to_pkcs8_der() deliberately")

    # Immutable: copies may share the libcrypto key.
    def __copy__(self) -> SM2PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> SM2PrivateKey:
        return self


def generate_private_key() -> SM2PrivateKey:
    """A fresh SM2 key pair from OpenSSL's CSPRNG."""
    lib = libcrypto()
    ctx: int | None = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        fail(lib, "SM2 is not available in this libcrypto")
    try:
        check(lib, lib.EVP_PKEY_keygen_init(ctx), "SM2 key generation failed")
        check(lib, lib.EVP_PKEY_CTX_set_group_name(ctx, b"SM2"), "SM2 key generation failed")
        out = c_void_p(None)
        check(lib, lib.EVP_PKEY_generate(ctx, byref(out)), "SM2 key generation failed")
        if not out.value:
            fail(lib, "SM2 key generation failed")
        return SM2PrivateKey(PKey(out.value))
    finally:
        lib.EVP_PKEY_CTX_free(ctx)
        clear_errors(lib)
