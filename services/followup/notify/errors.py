"""The error every delivery channel raises, saying whether trying again can help."""


class DeliveryError(Exception):
    """A message that did not get through; `permanent` means retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
