"""Python SDK for pyehsm (and any eHSM-KMS compatible server)."""

from pyehsm.client.sync import Client, EhsmApiError, Response

__all__ = ["Client", "EhsmApiError", "Response"]
