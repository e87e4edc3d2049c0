"""SM2 (GB/T 32918, GM/T 0003) signatures and public-key encryption via the system OpenSSL 3 libcrypto.

``cryptography`` cannot do SM2, so this is a thin :mod:`ctypes` binding to ``libcrypto.so.3``; every
elliptic-curve operation happens inside OpenSSL.  Formats:

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
import ctypes.util
import functools
import re
import weakref
from collections.abc import Callable
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_ulong, c_void_p
from typing import Any, Final, NoReturn

from cryptography.hazmat.primitives import hashes

__all__ = [
    "DEFAULT_USER_ID",
    "SM2Error",
    "SM2PrivateKey",
    "SM2PublicKey",
    "generate_private_key",
]

DEFAULT_USER_ID: bytes = b"1234567812345678"

_DIGEST_BYTES: Final = 32
_COORD_BYTES: Final = 32
# ENTL_A is a 16-bit count of ID *bits*; OpenSSL rejects ids of UINT16_MAX // 8 bytes or more.
_MAX_USER_ID_BYTES: Final = 0xFFFF // 8 - 1

# SM2 recommended curve parameters (GB/T 32918.5), used only to build Z_A.
_SM2_A: Final = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_SM2_B: Final = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_SM2_GX: Final = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
_SM2_GY: Final = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")

_PEM_RE: Final = re.compile(rb"-----BEGIN PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----")


class SM2Error(Exception):
    """A malformed key or ciphertext, or a libcrypto failure.  Never carries key bytes or data."""


# --------------------------------------------------------------------------------------------
# libcrypto binding
# --------------------------------------------------------------------------------------------

_CFunc = Callable[..., Any]
_PP = POINTER(c_void_p)


class _LibCrypto:
    """The handful of libcrypto 3 functions used here, each with argtypes/restype declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        def fn(name: str, restype: Any, *argtypes: Any) -> _CFunc:
            f: Any = getattr(lib, name)
            f.restype = restype
            f.argtypes = list(argtypes)
            return f  # type: ignore[no-any-return]

        vp, cp, i, sz = c_void_p, c_char_p, c_int, c_size_t
        psz = POINTER(c_size_t)
        self.ERR_clear_error = fn("ERR_clear_error", None)
        self.OPENSSL_cleanse = fn("OPENSSL_cleanse", None, vp, sz)
        self.BN_bn2binpad = fn("BN_bn2binpad", i, vp, vp, i)
        self.BN_free = fn("BN_free", None, vp)
        # EVP_PKEY lifecycle and parameters
        self.EVP_PKEY_free = fn("EVP_PKEY_free", None, vp)
        self.EVP_PKEY_is_a = fn("EVP_PKEY_is_a", i, vp, cp)
        self.EVP_PKEY_get_utf8_string_param = fn("EVP_PKEY_get_utf8_string_param", i, vp, cp, vp, sz, psz)
        self.EVP_PKEY_set_utf8_string_param = fn("EVP_PKEY_set_utf8_string_param", i, vp, cp, cp)
        self.EVP_PKEY_get_bn_param = fn("EVP_PKEY_get_bn_param", i, vp, cp, _PP)
        self.EVP_PKEY_CTX_new_from_name = fn("EVP_PKEY_CTX_new_from_name", vp, vp, cp, cp)
        self.EVP_PKEY_CTX_new_from_pkey = fn("EVP_PKEY_CTX_new_from_pkey", vp, vp, vp, cp)
        self.EVP_PKEY_CTX_free = fn("EVP_PKEY_CTX_free", None, vp)
        self.EVP_PKEY_CTX_set_group_name = fn("EVP_PKEY_CTX_set_group_name", i, vp, cp)
        self.EVP_PKEY_CTX_set1_id = fn("EVP_PKEY_CTX_set1_id", i, vp, cp, i)
        self.EVP_PKEY_keygen_init = fn("EVP_PKEY_keygen_init", i, vp)
        self.EVP_PKEY_generate = fn("EVP_PKEY_generate", i, vp, _PP)
        self.EVP_PKEY_private_check = fn("EVP_PKEY_private_check", i, vp)
        self.EVP_PKEY_pairwise_check = fn("EVP_PKEY_pairwise_check", i, vp)
        self.EVP_PKEY_public_check_quick = fn("EVP_PKEY_public_check_quick", i, vp)
        # (de)serialisation
        self.d2i_PKCS8_PRIV_KEY_INFO = fn("d2i_PKCS8_PRIV_KEY_INFO", vp, _PP, _PP, c_long)
        self.EVP_PKCS82PKEY = fn("EVP_PKCS82PKEY", vp, vp)
        self.EVP_PKEY2PKCS8 = fn("EVP_PKEY2PKCS8", vp, vp)
        self.i2d_PKCS8_PRIV_KEY_INFO = fn("i2d_PKCS8_PRIV_KEY_INFO", i, vp, _PP)
        self.PKCS8_PRIV_KEY_INFO_free = fn("PKCS8_PRIV_KEY_INFO_free", None, vp)
        self.d2i_PUBKEY = fn("d2i_PUBKEY", vp, _PP, _PP, c_long)
        self.i2d_PUBKEY = fn("i2d_PUBKEY", i, vp, _PP)
        # signatures
        self.EVP_MD_CTX_new = fn("EVP_MD_CTX_new", vp)
        self.EVP_MD_CTX_free = fn("EVP_MD_CTX_free", None, vp)
        self.EVP_MD_CTX_set_pkey_ctx = fn("EVP_MD_CTX_set_pkey_ctx", None, vp, vp)
        self.EVP_DigestSignInit_ex = fn("EVP_DigestSignInit_ex", i, vp, _PP, cp, vp, cp, vp, vp)
        self.EVP_DigestSign = fn("EVP_DigestSign", i, vp, vp, psz, cp, sz)
        self.EVP_DigestVerifyInit_ex = fn("EVP_DigestVerifyInit_ex", i, vp, _PP, cp, vp, cp, vp, vp)
        self.EVP_DigestVerify = fn("EVP_DigestVerify", i, vp, cp, sz, cp, sz)
        self.EVP_PKEY_sign_init = fn("EVP_PKEY_sign_init", i, vp)
        self.EVP_PKEY_sign = fn("EVP_PKEY_sign", i, vp, vp, psz, cp, sz)
        self.EVP_PKEY_verify_init = fn("EVP_PKEY_verify_init", i, vp)
        self.EVP_PKEY_verify = fn("EVP_PKEY_verify", i, vp, cp, sz, cp, sz)
        # encryption
        self.EVP_PKEY_encrypt_init = fn("EVP_PKEY_encrypt_init", i, vp)
        self.EVP_PKEY_encrypt = fn("EVP_PKEY_encrypt", i, vp, vp, psz, cp, sz)
        self.EVP_PKEY_decrypt_init = fn("EVP_PKEY_decrypt_init", i, vp)
        self.EVP_PKEY_decrypt = fn("EVP_PKEY_decrypt", i, vp, vp, psz, cp, sz)


def _open_libcrypto() -> ctypes.CDLL:
    names: list[str] = []
    found = ctypes.util.find_library("crypto")
    if found:
        names.append(found)
    names.append("libcrypto.so.3")
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            version_num: Any = lib.OpenSSL_version_num
        except (OSError, AttributeError):
            continue
        version_num.restype = c_ulong
        version_num.argtypes = []
        if int(version_num()) >= 0x30000000:
            return lib
    raise SM2Error("OpenSSL 3 libcrypto is not available")


@functools.cache
def _lib() -> _LibCrypto:
    return _LibCrypto(_open_libcrypto())


def _clear_errors(lib: _LibCrypto) -> None:
    """Drain this thread's OpenSSL error queue (the queue is per thread; details are not exposed)."""
    lib.ERR_clear_error()


def _fail(lib: _LibCrypto, message: str) -> NoReturn:
    _clear_errors(lib)
    raise SM2Error(message)


def _check(lib: _LibCrypto, rc: int, message: str) -> None:
    if rc != 1:
        _fail(lib, message)


def _out_ptr(buf: ctypes.Array[ctypes.c_char]) -> c_void_p:
    return c_void_p(ctypes.addressof(buf))


class _PKey:
    """Owns one ``EVP_PKEY*`` and frees it when garbage collected."""

    __slots__ = ("__weakref__", "_finalizer", "ptr")

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr
        self._finalizer = weakref.finalize(self, _lib().EVP_PKEY_free, ptr)
        # Leaking at interpreter exit is harmless; calling into libcrypto then is not guaranteed safe.
        self._finalizer.atexit = False

    def __reduce__(self) -> NoReturn:
        raise TypeError("libcrypto key handles cannot be pickled")


def _d2i(lib: _LibCrypto, func: _CFunc, free: _CFunc, der: bytes, what: str) -> int:
    """Run ``TYPE *d2i_TYPE(TYPE **a, const unsigned char **pp, long len)``; the whole input must be used."""
    if not isinstance(der, bytes | bytearray | memoryview) or len(der) == 0:
        raise SM2Error(f"malformed {what}")
    n = len(der)
    buf = ctypes.create_string_buffer(bytes(der), n)
    try:
        cursor = _out_ptr(buf)
        ptr: int | None = func(None, byref(cursor), n)
        if not ptr:
            _fail(lib, f"malformed {what}")
        if cursor.value != ctypes.addressof(buf) + n:
            free(ptr)
            _fail(lib, f"malformed {what} (trailing data)")
        return ptr
    finally:
        lib.OPENSSL_cleanse(buf, n)


def _require_sm2(lib: _LibCrypto, key: _PKey, what: str) -> None:
    """Reject anything that is not an SM2-curve key (RSA, P-256, ...)."""
    group = ctypes.create_string_buffer(64)
    glen = c_size_t(0)
    ok = lib.EVP_PKEY_get_utf8_string_param(key.ptr, b"group", group, len(group), byref(glen))
    if ok != 1 or group.value != b"SM2" or lib.EVP_PKEY_is_a(key.ptr, b"SM2") != 1:
        _fail(lib, f"{what} is not an SM2 key")


def _new_ctx(lib: _LibCrypto, key: _PKey) -> int:
    ctx: int | None = lib.EVP_PKEY_CTX_new_from_pkey(None, key.ptr, None)
    if not ctx:
        _fail(lib, "cannot create an SM2 operation context")
    return ctx


def _spki_der(lib: _LibCrypto, key: _PKey) -> bytes:
    n = int(lib.i2d_PUBKEY(key.ptr, None))
    if n <= 0:
        _fail(lib, "cannot encode SM2 public key")
    buf = ctypes.create_string_buffer(n)
    if lib.i2d_PUBKEY(key.ptr, byref(_out_ptr(buf))) != n:
        _fail(lib, "cannot encode SM2 public key")
    return buf.raw


def _public_point(lib: _LibCrypto, key: _PKey) -> bytes:
    """x_A || y_A, 32 bytes each, whatever point format the key was encoded with."""
    out = ctypes.create_string_buffer(2 * _COORD_BYTES)
    for i, name in enumerate((b"qx", b"qy")):
        bn = c_void_p(None)
        if lib.EVP_PKEY_get_bn_param(key.ptr, name, byref(bn)) != 1 or not bn.value:
            _fail(lib, "cannot read SM2 public point")
        try:
            target = ctypes.addressof(out) + i * _COORD_BYTES
            if lib.BN_bn2binpad(bn, c_void_p(target), _COORD_BYTES) != _COORD_BYTES:
                _fail(lib, "cannot read SM2 public point")
        finally:
            lib.BN_free(bn)
    return out.raw


def _der_tlv(data: bytes, pos: int, tag: int) -> tuple[int, int] | None:
    """(value start, value end) of the DER element with ``tag`` at ``pos``; None unless well formed."""
    if pos + 2 > len(data) or data[pos] != tag:
        return None
    first = data[pos + 1]
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        nlen = first & 0x7F
        if nlen == 0 or nlen > 4 or start + nlen > len(data) or data[start] == 0:
            return None
        length = int.from_bytes(data[start : start + nlen], "big")
        start += nlen
        if length < 0x80:  # DER demands the shortest length form
            return None
    end = start + length
    return (start, end) if end <= len(data) else None


def _is_der_sm2_ciphertext(data: bytes) -> bool:
    """Strict DER framing of SEQUENCE { x INTEGER, y INTEGER, C3 OCTET STRING(32), C2 OCTET STRING }.

    Only the framing is checked here, OpenSSL validates the contents.  OpenSSL 3.0 on its own
    accepts trailing bytes after the SEQUENCE and BER (non-minimal) lengths, which would make
    ciphertexts malleable.
    """
    outer = _der_tlv(data, 0, 0x30)
    if outer is None or outer[1] != len(data):
        return False
    pos = outer[0]
    for _ in range(2):  # x, y: minimal non-negative INTEGERs
        span = _der_tlv(data, pos, 0x02)
        if span is None or not 1 <= span[1] - span[0] <= _COORD_BYTES + 1:
            return False
        value = data[span[0] : span[1]]
        if value[0] & 0x80 or (len(value) > 1 and value[0] == 0 and not value[1] & 0x80):
            return False
        pos = span[1]
    c3 = _der_tlv(data, pos, 0x04)
    if c3 is None or c3[1] - c3[0] != _DIGEST_BYTES:
        return False
    c2 = _der_tlv(data, c3[1], 0x04)
    return c2 is not None and c2[1] > c2[0] and c2[1] == len(data)


def _check_user_id(user_id: bytes) -> None:
    if len(user_id) > _MAX_USER_ID_BYTES:
        raise SM2Error("SM2 user id too long")


def _check_digest(e: bytes) -> None:
    if len(e) != _DIGEST_BYTES:
        raise SM2Error("SM2 digest e must be 32 bytes")


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


class SM2PublicKey:
    """An SM2 public key: verification, Z_A computation and encryption."""

    __slots__ = ("_key", "_point", "_spki")

    def __init__(self, _key: _PKey) -> None:
        """Internal: use :meth:`from_spki_der`, :meth:`from_pem` or :meth:`SM2PrivateKey.public_key`."""
        lib = _lib()
        self._key = _key
        self._spki = _spki_der(lib, _key)
        self._point = _public_point(lib, _key)

    @classmethod
    def from_spki_der(cls, der: bytes) -> SM2PublicKey:
        lib = _lib()
        try:
            key = _PKey(_d2i(lib, lib.d2i_PUBKEY, lib.EVP_PKEY_free, der, "SM2 public key"))
            _require_sm2(lib, key, "public key")
            # Always re-emit uncompressed points, even for a compressed input encoding.
            if lib.EVP_PKEY_set_utf8_string_param(key.ptr, b"point-format", b"uncompressed") != 1:
                _fail(lib, "malformed SM2 public key")
            ctx = _new_ctx(lib, key)
            try:
                # On-curve and not infinity; SM2's cofactor is 1, so the full n*Q check adds nothing.
                _check(lib, lib.EVP_PKEY_public_check_quick(ctx), "invalid SM2 public key")
            finally:
                lib.EVP_PKEY_CTX_free(ctx)
            return cls(key)
        finally:
            _clear_errors(lib)

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
        lib = _lib()
        mctx: int | None = lib.EVP_MD_CTX_new()
        if not mctx:
            _fail(lib, "cannot create an SM2 verification context")
        pctx = None
        try:
            pctx = _new_ctx(lib, self._key)
            if lib.EVP_PKEY_CTX_set1_id(pctx, bytes(user_id), len(user_id)) != 1:
                _fail(lib, "cannot set SM2 user id")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            _check(
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
            _clear_errors(lib)

    def verify_digest(self, signature: bytes, e: bytes) -> bool:
        """True iff ``signature`` is a valid DER SM2 signature of the precomputed e = SM3(Z_A || M)."""
        if len(e) != _DIGEST_BYTES:
            return False
        lib = _lib()
        ctx = _new_ctx(lib, self._key)
        try:
            _check(lib, lib.EVP_PKEY_verify_init(ctx), "cannot initialise SM2 verification")
            rc = lib.EVP_PKEY_verify(ctx, bytes(signature), len(signature), bytes(e), len(e))
            return bool(rc == 1)
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            _clear_errors(lib)

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2-encrypt ``plaintext`` (with SM3 as KDF/C3 hash) to GM/T 0009 DER C1C3C2."""
        if len(plaintext) == 0:
            raise SM2Error("SM2 cannot encrypt an empty plaintext")
        lib = _lib()
        data = bytes(plaintext)
        ctx = _new_ctx(lib, self._key)
        try:
            _check(lib, lib.EVP_PKEY_encrypt_init(ctx), "cannot initialise SM2 encryption")
            outlen = c_size_t(0)
            _check(lib, lib.EVP_PKEY_encrypt(ctx, None, byref(outlen), data, len(data)), "SM2 encryption failed")
            out = ctypes.create_string_buffer(outlen.value)
            _check(lib, lib.EVP_PKEY_encrypt(ctx, out, byref(outlen), data, len(data)), "SM2 encryption failed")
            return out.raw[: outlen.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            _clear_errors(lib)

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

    def __init__(self, _key: _PKey) -> None:
        """Internal: use :func:`generate_private_key` or :meth:`from_pkcs8_der`."""
        self._key = _key
        self._public = SM2PublicKey.from_spki_der(_spki_der(_lib(), _key))

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> SM2PrivateKey:
        lib = _lib()
        try:
            # Strictly PKCS#8 (d2i_AutoPrivateKey would also take SEC1 ECPrivateKey and others).
            p8 = _d2i(lib, lib.d2i_PKCS8_PRIV_KEY_INFO, lib.PKCS8_PRIV_KEY_INFO_free, der, "SM2 private key")
            try:
                ptr: int | None = lib.EVP_PKCS82PKEY(p8)
            finally:
                lib.PKCS8_PRIV_KEY_INFO_free(p8)  # clears the embedded key octets
            if not ptr:
                _fail(lib, "malformed SM2 private key")
            key = _PKey(ptr)
            _require_sm2(lib, key, "private key")
            ctx = _new_ctx(lib, key)
            try:
                # 1 <= d < n, and the embedded public point really is d*G.
                _check(lib, lib.EVP_PKEY_private_check(ctx), "invalid SM2 private key")
                _check(lib, lib.EVP_PKEY_pairwise_check(ctx), "invalid SM2 private key")
            finally:
                lib.EVP_PKEY_CTX_free(ctx)
            return cls(key)
        finally:
            _clear_errors(lib)

    def to_pkcs8_der(self) -> bytes:
        """Unencrypted PKCS#8 PrivateKeyInfo (id-ecPublicKey, namedCurve sm2)."""
        lib = _lib()
        p8: int | None = lib.EVP_PKEY2PKCS8(self._key.ptr)
        if not p8:
            _fail(lib, "cannot encode SM2 private key")
        try:
            n = int(lib.i2d_PKCS8_PRIV_KEY_INFO(p8, None))
            if n <= 0:
                _fail(lib, "cannot encode SM2 private key")
            buf = ctypes.create_string_buffer(n)
            try:
                if lib.i2d_PKCS8_PRIV_KEY_INFO(p8, byref(_out_ptr(buf))) != n:
                    _fail(lib, "cannot encode SM2 private key")
                return buf.raw
            finally:
                lib.OPENSSL_cleanse(buf, n)
        finally:
            lib.PKCS8_PRIV_KEY_INFO_free(p8)
            _clear_errors(lib)

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign(self, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """DER SM2 signature of e = SM3(Z_A || message), Z_A over ``user_id`` and this key."""
        _check_user_id(user_id)
        lib = _lib()
        mctx: int | None = lib.EVP_MD_CTX_new()
        if not mctx:
            _fail(lib, "cannot create an SM2 signing context")
        pctx = None
        try:
            pctx = _new_ctx(lib, self._key)
            _check(lib, lib.EVP_PKEY_CTX_set1_id(pctx, bytes(user_id), len(user_id)), "cannot set SM2 user id")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            _check(
                lib,
                lib.EVP_DigestSignInit_ex(mctx, None, b"SM3", None, None, self._key.ptr, None),
                "cannot initialise SM2 signing",
            )
            data = bytes(message)
            siglen = c_size_t(0)
            _check(lib, lib.EVP_DigestSign(mctx, None, byref(siglen), None, 0), "SM2 signing failed")
            sig = ctypes.create_string_buffer(siglen.value)
            _check(lib, lib.EVP_DigestSign(mctx, sig, byref(siglen), data, len(data)), "SM2 signing failed")
            return sig.raw[: siglen.value]
        finally:
            lib.EVP_MD_CTX_free(mctx)
            if pctx:
                lib.EVP_PKEY_CTX_free(pctx)
            _clear_errors(lib)

    def sign_digest(self, e: bytes) -> bytes:
        """DER SM2 signature of a precomputed 32-byte e = SM3(Z_A || M), see :meth:`SM2PublicKey.z_digest`."""
        _check_digest(e)
        lib = _lib()
        ctx = _new_ctx(lib, self._key)
        try:
            _check(lib, lib.EVP_PKEY_sign_init(ctx), "cannot initialise SM2 signing")
            data = bytes(e)
            siglen = c_size_t(0)
            _check(lib, lib.EVP_PKEY_sign(ctx, None, byref(siglen), data, len(data)), "SM2 signing failed")
            sig = ctypes.create_string_buffer(siglen.value)
            _check(lib, lib.EVP_PKEY_sign(ctx, sig, byref(siglen), data, len(data)), "SM2 signing failed")
            return sig.raw[: siglen.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            _clear_errors(lib)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt a GM/T 0009 DER C1C3C2 ciphertext; SM2Error if it is malformed or fails its C3 check."""
        lib = _lib()
        data = bytes(ciphertext)
        if not _is_der_sm2_ciphertext(data):
            raise SM2Error("SM2 decryption failed")
        ctx = _new_ctx(lib, self._key)
        try:
            _check(lib, lib.EVP_PKEY_decrypt_init(ctx), "cannot initialise SM2 decryption")
            outlen = c_size_t(0)
            _check(lib, lib.EVP_PKEY_decrypt(ctx, None, byref(outlen), data, len(data)), "SM2 decryption failed")
            size = max(outlen.value, len(data))
            out = ctypes.create_string_buffer(size)
            outlen.value = size
            try:
                rc = lib.EVP_PKEY_decrypt(ctx, out, byref(outlen), data, len(data))
                _check(lib, rc, "SM2 decryption failed")
                return out.raw[: outlen.value]
            finally:
                lib.OPENSSL_cleanse(out, size)
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            _clear_errors(lib)

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
    lib = _lib()
    ctx: int | None = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        _fail(lib, "SM2 is not available in this libcrypto")
    try:
        _check(lib, lib.EVP_PKEY_keygen_init(ctx), "SM2 key generation failed")
        _check(lib, lib.EVP_PKEY_CTX_set_group_name(ctx, b"SM2"), "SM2 key generation failed")
        out = c_void_p(None)
        _check(lib, lib.EVP_PKEY_generate(ctx, byref(out)), "SM2 key generation failed")
        if not out.value:
            _fail(lib, "SM2 key generation failed")
        return SM2PrivateKey(_PKey(out.value))
    finally:
        lib.EVP_PKEY_CTX_free(ctx)
        _clear_errors(lib)
