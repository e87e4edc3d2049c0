"""THE operation table of the AWS KMS door: ``TrentService.<Name>`` -> a handler (request dict -> response
dict). A handler (ops/<area>.py) checks its members (fields.py), calls one service method and maps the result
to AWS's shapes; services raise domain errors, answered through errors.py. A name absent from the table
answers UnsupportedOperationException (each new operation: one handler and one row).
"""

from __future__ import annotations

from pyehsm.protocols.awskms.ops.aliases import create_alias, delete_alias, list_aliases, update_alias
from pyehsm.protocols.awskms.ops.context import Handler
from pyehsm.protocols.awskms.ops.encryption import (
    decrypt,
    encrypt,
    generate_data_key,
    generate_data_key_without_plaintext,
)
from pyehsm.protocols.awskms.ops.key_import import (
    delete_imported_key_material,
    get_parameters_for_import,
    import_key_material,
)
from pyehsm.protocols.awskms.ops.key_pairs import generate_data_key_pair, generate_data_key_pair_without_plaintext
from pyehsm.protocols.awskms.ops.keys import (
    cancel_key_deletion,
    create_key,
    describe_key,
    disable_key,
    enable_key,
    list_keys,
    schedule_key_deletion,
    update_key_description,
)
from pyehsm.protocols.awskms.ops.mac import generate_mac, generate_random, verify_mac
from pyehsm.protocols.awskms.ops.policies import (
    create_grant,
    get_key_policy,
    list_grants,
    list_key_policies,
    list_retirable_grants,
    put_key_policy,
)
from pyehsm.protocols.awskms.ops.reencrypt import re_encrypt
from pyehsm.protocols.awskms.ops.rotation import (
    disable_key_rotation,
    enable_key_rotation,
    get_key_rotation_status,
    list_key_rotations,
    rotate_key_on_demand,
)
from pyehsm.protocols.awskms.ops.signing import get_public_key, sign, verify
from pyehsm.protocols.awskms.ops.tags import list_resource_tags, tag_resource, untag_resource

__all__ = ["OPERATIONS"]

OPERATIONS: dict[str, Handler] = {
    "CreateKey": create_key,
    "DescribeKey": describe_key,
    "ListKeys": list_keys,
    "EnableKey": enable_key,
    "DisableKey": disable_key,
    "UpdateKeyDescription": update_key_description,
    "ScheduleKeyDeletion": schedule_key_deletion,
    "CancelKeyDeletion": cancel_key_deletion,
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
    "CreateAlias": create_alias,
    "UpdateAlias": update_alias,
    "DeleteAlias": delete_alias,
    "ListAliases": list_aliases,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListResourceTags": list_resource_tags,
    "EnableKeyRotation": enable_key_rotation,
    "DisableKeyRotation": disable_key_rotation,
    "GetKeyRotationStatus": get_key_rotation_status,
    "RotateKeyOnDemand": rotate_key_on_demand,
    "ListKeyRotations": list_key_rotations,
    "DeleteImportedKeyMaterial": delete_imported_key_material,
    "GetKeyPolicy": get_key_policy,
    "PutKeyPolicy": put_key_policy,
    "ListKeyPolicies": list_key_policies,
    "ListGrants": list_grants,
    "ListRetirableGrants": list_retirable_grants,
    "CreateGrant": create_grant,
}
