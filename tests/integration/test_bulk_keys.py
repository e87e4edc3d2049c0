"""KeyService.create_many: the bulk path (Store.insert_keys) makes keys that work exactly like CreateKey's,
on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyehsm.app import open_runtime
from pyehsm.config import Settings
from pyehsm.crypto.keyspecs import KeyUsage, keyspec
from pyehsm.errors import KeyNotFound, UsageNotSupported
from tests.support.postgres import fresh_database


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_bulk_created_keys_encrypt_decrypt_and_list_like_created_ones(tmp_path: Path, kind: str) -> None:
    with fresh_database() as url:
        settings = Settings(data_dir=tmp_path, pool_depth={}, store=url if kind == "postgres" else "")
        runtime = await open_runtime(settings)
        try:
            services = runtime.services
            appid, _ = await services.apps.enroll()
            other, _ = await services.apps.enroll()
            keyids = await services.keys.create_many(appid, keyspec("EH_AES_GCM_256"), 20, batch_size=7)  # 7 + 7 + 6
            assert len(set(keyids)) == 20
            listed = await services.keys.list(appid)
            assert sorted(k.keyid for k in listed) == sorted(keyids)
            assert {k.keyusage for k in listed} == {"EH_KEYUSAGE_ENCRYPT_DECRYPT"}
            for keyid in keyids:
                ct = await services.symmetric.encrypt(appid, keyid, b"hello " + keyid.encode(), b"aad")
                assert await services.symmetric.decrypt(appid, keyid, ct, b"aad") == b"hello " + keyid.encode()
                with pytest.raises(KeyNotFound):  # tenancy: another app cannot see it
                    await services.symmetric.encrypt(other, keyid, b"x", b"")
            with pytest.raises(UsageNotSupported):
                await services.keys.create_many(appid, keyspec("EH_AES_GCM_256"), 1, KeyUsage.SIGN_VERIFY)
            assert len(await services.keys.list(appid)) == 20
        finally:
            await runtime.close()
