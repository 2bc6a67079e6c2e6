"""Fixtures of the notifier tests: a SQLite store with followup's tables and a fake WeChat."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime.sql import create_store
from services.followup.models import Base
from services.followup.notify import models as _notify_models  # noqa: F401  (registers tables)
from services.followup.notify.wechat import WeChatClient
from tests.followup.notify.fake_wechat import APP_ID, APP_SECRET, FakeWeChat
from tests.followup.notify.sms_server import SmsServer


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return create_store(f"sqlite:///{tmp_path}/n.db", Base.metadata)


@pytest.fixture
def fake_wechat() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
def wechat(fake_wechat: FakeWeChat) -> WeChatClient:
    return WeChatClient(fake_wechat.client(), APP_ID, APP_SECRET)


@pytest.fixture
def sms_server() -> Iterator[SmsServer]:
    with SmsServer() as server:
        yield server
