"""The eHSM-KMS REST protocol (docs/protocol.md): envelope, signature, Action table, error table."""
