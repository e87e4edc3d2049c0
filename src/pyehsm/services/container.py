"""The services an action handler may call, wired once by app.py."""

from __future__ import annotations

from dataclasses import dataclass

from pyehsm.clock import Clock
from pyehsm.keyring.keyring import Keyring
from pyehsm.services.apps import AppService
from pyehsm.services.asymmetric import AsymmetricService
from pyehsm.services.attestation import AttestationService
from pyehsm.services.batch import BatchService
from pyehsm.services.byok import ByokService
from pyehsm.services.key_metadata import KeyMetadataService
from pyehsm.services.keys import KeyService
from pyehsm.services.mac import MacService, RandomService
from pyehsm.services.release import ReleaseService
from pyehsm.services.release_gate import ReleaseGate
from pyehsm.services.release_policies import ReleasePolicyService
from pyehsm.services.rotation import RotationService
from pyehsm.services.secrets import SecretService
from pyehsm.services.symmetric import SymmetricService


@dataclass(slots=True)
class Services:
    clock: Clock
    keyring: Keyring
    apps: AppService
    keys: KeyService
    symmetric: SymmetricService
    secrets: SecretService
    asymmetric: AsymmetricService
    attestation: AttestationService
    byok: ByokService
    mac: MacService
    random: RandomService
    batch: BatchService
    version: str
    git_sha: str
    key_metadata: KeyMetadataService
    rotation: RotationService
    release_gate: ReleaseGate
    release: ReleaseService
    release_policies: ReleasePolicyService
