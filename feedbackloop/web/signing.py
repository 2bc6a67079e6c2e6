"""Short MACs for links citizens get by SMS, on itsdangerous' signers.

itsdangerous signs with the whole HMAC; a link in a text message wants fewer characters, so
the MAC is cut (128 or 144 bits still cannot be guessed). Verification goes through the
same algorithm, so it compares in constant time against the cut MAC.
"""

import hashlib

from itsdangerous import HMACAlgorithm, Signer


class ShortMac(HMACAlgorithm):
    """HMAC-SHA256 cut to its first `size` bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(hashlib.sha256)
        self.size = size

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return super().get_signature(key, value)[: self.size]


def link_signer(secret: str, *, size: int) -> Signer:
    """A signer whose key is `secret` as it is (no derivation) and whose MAC has `size` bytes.

    No derivation because links already given out were made with the secret itself.
    """
    return Signer(secret, key_derivation="none", algorithm=ShortMac(size))
