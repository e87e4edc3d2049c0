"""A thin :mod:`ctypes` binding to the system OpenSSL 3 ``libcrypto.so.3``, for SM2 (``cryptography`` cannot
do SM2). Only the handful of functions :mod:`pyehsm.crypto.sm2_keys` uses, each with argtypes/restype
declared, plus the helpers that own ``EVP_PKEY*`` handles and drain OpenSSL's error queue, and the strict
DER framing check run before a ciphertext is handed to OpenSSL. ctypes drops the GIL while libcrypto runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref
from collections.abc import Callable
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_ulong, c_void_p
from typing import Any, Final, NoReturn

DIGEST_BYTES: Final = 32
COORD_BYTES: Final = 32


class SM2Error(Exception):
    """A malformed key or ciphertext, or a libcrypto failure.  Never carries key bytes or data."""


# --------------------------------------------------------------------------------------------
# libcrypto binding
# --------------------------------------------------------------------------------------------

_CFunc = Callable[..., Any]
_PP = POINTER(c_void_p)


class LibCrypto:
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
def libcrypto() -> LibCrypto:
    return LibCrypto(_open_libcrypto())


def clear_errors(lib: LibCrypto) -> None:
    """Drain this thread's OpenSSL error queue (the queue is per thread; details are not exposed)."""
    lib.ERR_clear_error()


def fail(lib: LibCrypto, message: str) -> NoReturn:
    clear_errors(lib)
    raise SM2Error(message)


def check(lib: LibCrypto, rc: int, message: str) -> None:
    if rc != 1:
        fail(lib, message)


def out_ptr(buf: ctypes.Array[ctypes.c_char]) -> c_void_p:
    return c_void_p(ctypes.addressof(buf))


class PKey:
    """Owns one ``EVP_PKEY*`` and frees it when garbage collected."""

    __slots__ = ("__weakref__", "_finalizer", "ptr")

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr
        self._finalizer = weakref.finalize(self, libcrypto().EVP_PKEY_free, ptr)
        # Leaking at interpreter exit is harmless; calling into libcrypto then is not guaranteed safe.
        self._finalizer.atexit = False

    def __reduce__(self) -> NoReturn:
        raise TypeError("libcrypto key handles cannot be pickled")


def d2i(lib: LibCrypto, func: _CFunc, free: _CFunc, der: bytes, what: str) -> int:
    """Run ``TYPE *d2i_TYPE(TYPE **a, const unsigned char **pp, long len)``; the whole input must be used."""
    if not isinstance(der, bytes | bytearray | memoryview) or len(der) == 0:
        raise SM2Error(f"malformed {what}")
    n = len(der)
    buf = ctypes.create_string_buffer(bytes(der), n)
    try:
        cursor = out_ptr(buf)
        ptr: int | None = func(None, byref(cursor), n)
        if not ptr:
            fail(lib, f"malformed {what}")
        if cursor.value != ctypes.addressof(buf) + n:
            free(ptr)
            fail(lib, f"malformed {what} (trailing data)")
        return ptr
    finally:
        lib.OPENSSL_cleanse(buf, n)


def require_sm2(lib: LibCrypto, key: PKey, what: str) -> None:
    """Reject anything that is not an SM2-curve key (RSA, P-256, ...)."""
    group = ctypes.create_string_buffer(64)
    glen = c_size_t(0)
    ok = lib.EVP_PKEY_get_utf8_string_param(key.ptr, b"group", group, len(group), byref(glen))
    if ok != 1 or group.value != b"SM2" or lib.EVP_PKEY_is_a(key.ptr, b"SM2") != 1:
        fail(lib, f"{what} is not an SM2 key")


def new_ctx(lib: LibCrypto, key: PKey) -> int:
    ctx: int | None = lib.EVP_PKEY_CTX_new_from_pkey(None, key.ptr, None)
    if not ctx:
        fail(lib, "cannot create an SM2 operation context")
    return ctx


def spki_der(lib: LibCrypto, key: PKey) -> bytes:
    n = int(lib.i2d_PUBKEY(key.ptr, None))
    if n <= 0:
        fail(lib, "cannot encode SM2 public key")
    buf = ctypes.create_string_buffer(n)
    if lib.i2d_PUBKEY(key.ptr, byref(out_ptr(buf))) != n:
        fail(lib, "cannot encode SM2 public key")
    return buf.raw


def public_point(lib: LibCrypto, key: PKey) -> bytes:
    """x_A || y_A, 32 bytes each, whatever point format the key was encoded with."""
    out = ctypes.create_string_buffer(2 * COORD_BYTES)
    for i, name in enumerate((b"qx", b"qy")):
        bn = c_void_p(None)
        if lib.EVP_PKEY_get_bn_param(key.ptr, name, byref(bn)) != 1 or not bn.value:
            fail(lib, "cannot read SM2 public point")
        try:
            target = ctypes.addressof(out) + i * COORD_BYTES
            if lib.BN_bn2binpad(bn, c_void_p(target), COORD_BYTES) != COORD_BYTES:
                fail(lib, "cannot read SM2 public point")
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


def is_der_sm2_ciphertext(data: bytes) -> bool:
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
        if span is None or not 1 <= span[1] - span[0] <= COORD_BYTES + 1:
            return False
        value = data[span[0] : span[1]]
        if value[0] & 0x80 or (len(value) > 1 and value[0] == 0 and not value[1] & 0x80):
            return False
        pos = span[1]
    c3 = _der_tlv(data, pos, 0x04)
    if c3 is None or c3[1] - c3[0] != DIGEST_BYTES:
        return False
    c2 = _der_tlv(data, c3[1], 0x04)
    return c2 is not None and c2[1] > c2[0] and c2[1] == len(data)
