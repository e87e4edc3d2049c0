"""SDK methods, remote attestation: GenerateQuote, VerifyQuote, quote policies."""

from __future__ import annotations

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import Quote, QuotePolicy, QuoteVerification
from pyehsm.client.operation import operation


class AttestationMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

    # -- remote attestation -----------------------------------------------------------------------
    @operation
    def generate_quote(self, challenge: bytes) -> Exchange[Quote]:
        """GenerateQuote: a quote of the server's enclave/TD over ``challenge``.

        >>> quote = c.generate_quote(b"fresh challenge").quote
        """
        return self._exchange(ops.generate_quote(challenge))

    @operation
    def verify_quote(self, quote: bytes, nonce: bytes, policy_id: str | None = None) -> Exchange[QuoteVerification]:
        """VerifyQuote; the answer's HMAC and nonce echo are checked (ResponseSignatureError if not).

        >>> c.verify_quote(quote, b"nonce", policy_id).valid
        True
        """
        return self._exchange(ops.verify_quote(quote, nonce, self.apikey, policy_id))

    @operation
    def upload_quote_policy(self, mr_enclave: str, mr_signer: str) -> Exchange[str]:
        """UploadQuotePolicy: returns the new policyId.

        >>> policy_id = c.upload_quote_policy("ab" * 32, "cd" * 32)
        """
        return self._exchange(ops.upload_quote_policy(mr_enclave, mr_signer))

    @operation
    def get_quote_policy(self, policy_id: str) -> Exchange[QuotePolicy]:
        """GetQuotePolicy.

        >>> c.get_quote_policy(policy_id).mr_enclave
        """
        return self._exchange(ops.get_quote_policy(policy_id))
