"""THE operation table of the AWS KMS door: ``TrentService.<Name>`` -> a handler (request dict -> response
dict). A handler (ops/<area>.py) checks its members (fields.py), calls one service method and maps the result
to AWS's shapes; services raise domain errors, answered through errors.py. A name absent from the table
answers UnsupportedOperationException (``FOLLOW_UP`` lists the ones a later release adds: each one more row).
"""

from __future__ import annotations

from pyehsm.protocols.awskms.ops.context import Handler
from pyehsm.protocols.awskms.ops.encryption import (
    decrypt,
    encrypt,
    generate_data_key,
    generate_data_key_without_plaintext,
)
from pyehsm.protocols.awskms.ops.key_import import get_parameters_for_import, import_key_material
from pyehsm.protocols.awskms.ops.key_pairs import generate_data_key_pair, generate_data_key_pair_without_plaintext
from pyehsm.protocols.awskms.ops.keys import create_key, disable_key, enable_key, list_keys
from pyehsm.protocols.awskms.ops.mac import generate_mac, generate_random, verify_mac
from pyehsm.protocols.awskms.ops.policies import (
    create_grant,
    get_key_policy,
    list_grants,
    list_key_policies,
    list_retirable_grants,
)
from pyehsm.protocols.awskms.ops.reencrypt import re_encrypt
from pyehsm.protocols.awskms.ops.signing import get_public_key, sign, verify

__all__ = ["FOLLOW_UP", "OPERATIONS"]

OPERATIONS: dict[str, Handler] = {
    "CreateKey": create_key,
    "ListKeys": list_keys,
    "EnableKey": enable_key,
    "DisableKey": disable_key,
    "Encrypt": encrypt,
    "Decrypt": decrypt,
    "GenerateDataKey": generate_data_key,
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext,
    "ReEncrypt": re_encrypt,
    "GenerateDataKeyPair": generate_data_key_pair,
    "GenerateDataKeyPairWithoutPlaintext": generate_data_key_pair_without_plaintext,
    "GenerateRandom": generate_random,
    "GenerateMac": generate_mac,
    "VerifyMac": verify_mac,
    "Sign": sign,
    "Verify": verify,
    "GetPublicKey": get_public_key,
    "GetParametersForImport": get_parameters_for_import,
    "ImportKeyMaterial": import_key_material,
    "GetKeyPolicy": get_key_policy,
    "ListKeyPolicies": list_key_policies,
    "ListGrants": list_grants,
    "ListRetirableGrants": list_retirable_grants,
    "CreateGrant": create_grant,
}

# Listed by the AWS door's issue, waiting for the key-lifecycle services: each is one row above + a mapper.
FOLLOW_UP = (
    "DescribeKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "UpdateKeyDescription",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "DeleteImportedKeyMaterial",
    "PutKeyPolicy",  # needs a stored policy per key (a store table): GetKeyPolicy then returns it
)
