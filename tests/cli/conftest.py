"""Each test reads the settings afresh: `get_settings()` is built once per process."""

from collections.abc import Iterator

import pytest

from services.followup import config as followup_config
from services.intake import config as intake_config
from services.metrics import config as metrics_config
from services.router import config as router_config

_CACHED = (intake_config, router_config, followup_config, metrics_config)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Forget the settings a test (or one before it) made."""
    for module in _CACHED:
        module.get_settings.cache_clear()
    yield
    for module in _CACHED:
        module.get_settings.cache_clear()
