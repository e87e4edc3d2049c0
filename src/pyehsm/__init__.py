"""pyehsm: a key management service wire-compatible with the eHSM-KMS REST API."""

__version__ = "0.1.0"
