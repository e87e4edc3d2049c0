"""Background pre-generation of key pairs so CreateKey never waits for RSA/EC/SM2 key generation.

Bounded per keyspec; refilled by one daemon thread (key generation releases the GIL, so the event
loop keeps serving). Generated material stays in this process's memory until a CreateKey takes it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading

from pyehsm.crypto.keyspecs import KEYSPECS, KeySpec, generate_material, is_slow

log = logging.getLogger(__name__)


class KeyPairPool:
    def __init__(self, depth: dict[str, int]) -> None:
        """``depth`` maps keyspec name -> how many pairs to keep ready (0 disables pooling for it)."""
        self._depth = {name: n for name, n in depth.items() if n > 0 and is_slow(KEYSPECS[name])}
        self._ready: dict[str, collections.deque[bytes]] = {name: collections.deque() for name in self._depth}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<KeyPairPool {self.depths()}>"

    def start(self) -> None:
        if self._depth and self._thread is None:
            self._thread = threading.Thread(target=self._refill_forever, name="pyehsm-keypool", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def depths(self) -> dict[str, int]:
        return {name: len(q) for name, q in self._ready.items()}

    async def take(self, spec: KeySpec) -> bytes:
        """Fresh material for ``spec``: from the pool when ready, else generated off the event loop."""
        queue = self._ready.get(spec.name)
        if queue:
            try:
                material = queue.popleft()
            except IndexError:
                material = None
            if material is not None:
                self._wake.set()
                return material
        if is_slow(spec):
            return await asyncio.to_thread(generate_material, spec)
        return generate_material(spec)

    def _refill_forever(self) -> None:
        while not self._stop.is_set():
            filled_any = False
            for name, want in self._depth.items():
                if self._stop.is_set():
                    return
                queue = self._ready[name]
                if len(queue) < want:
                    try:
                        queue.append(generate_material(KEYSPECS[name]))
                        filled_any = True
                    except Exception:
                        log.exception("key pool: generation failed for %s", name)
            if not filled_any:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
