"""公开: a ticket is published once answered with consent, updated, and taken off the board."""

from datetime import UTC, datetime, timedelta

import time_machine

from services.followup import service
from services.followup.publication import service as publication
from services.followup.publication.models import PublicItem
from tests.followup.conftest import Desk
from tests.followup.publication.helpers import API, events_of, file, resolve
from tests.followup.test_surveys import answer, link_path


def on_board(desk: Desk, number: str) -> PublicItem | None:
    with desk.sessions() as session:
        return publication.get_item(session=session, ticket_no=number)


def test_nothing_is_published_before_the_reply_nor_without_consent(desk: Desk) -> None:
    agreed = file(desk, "我叫王小明，电话13812345678，3栋2单元501室门口路灯坏了")
    refused = file(desk, consent=False)
    assert on_board(desk, agreed) is None
    assert events_of(desk, agreed, "published") == []
    resolve(desk, agreed, reply="已联系王先生（13812345678），更换了3栋门口的灯泡")
    resolve(desk, refused)
    item = on_board(desk, agreed)
    assert item is not None and on_board(desk, refused) is None
    assert "王小明" not in item.text and "13812345678" not in item.text
    assert "501" not in item.text and "门口路灯坏了" in item.text
    assert "王先生" not in item.reply and "13812345678" not in item.reply
    assert "更换了" in item.reply
    [published] = events_of(desk, agreed, "published")
    shown = published.publication
    assert shown is not None
    assert (shown.text, shown.reply) == (item.text, item.reply)
    assert shown.district == "芙蓉区" and shown.media_url is None
    assert (shown.lat, shown.lng) == (28.195, 112.982)  # about 100 m, never a doorstep
    assert events_of(desk, refused, "published", "unpublished") == []


def test_the_survey_result_updates_the_record(desk: Desk) -> None:
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        number = file(desk)
        resolve(desk, number)
        traveller.shift(timedelta(hours=24, minutes=1))
        desk.fire_clocks()
        assert answer(desk, link_path(desk, number), "solved", "satisfied")[0] == 200
    item = on_board(desk, number)
    assert item is not None and (item.solved, item.satisfaction) == ("solved", "satisfied")
    first, second = events_of(desk, number, "published")
    assert first.publication is not None and first.publication.satisfaction is None
    assert second.publication is not None and second.publication.satisfaction == "satisfied"


def test_a_reopened_ticket_answered_again_is_republished_with_the_new_reply(desk: Desk) -> None:
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        number = file(desk)
        resolve(desk, number, reply="已安排检修")
        traveller.shift(timedelta(hours=24, minutes=1))
        desk.fire_clocks()
        assert answer(desk, link_path(desk, number), "not", "dissatisfied")[0] == 200
        resolve(desk, number, reply="已更换整套灯具")
    item = on_board(desk, number)
    assert item is not None and item.reply == "已更换整套灯具"
    replies = [e.publication.reply for e in events_of(desk, number, "published") if e.publication]
    assert replies[0] == "已安排检修" and replies[-1] == "已更换整套灯具"


def test_withholding_and_restoring_are_audited_and_emitted(desk: Desk) -> None:
    number = file(desk)
    resolve(desk, number)
    operator = desk.headers["operator"]
    urban = desk.headers["urban"]
    path = f"{API}/tickets/{number}/publication"
    refused = desk.client.post(f"{path}/withhold", headers=urban, json={"reason": "不宜公开"})
    assert refused.status_code == 403
    done = desk.client.post(
        f"{path}/withhold", headers=operator, json={"reason": "含有未能隐去的邻居姓名"}
    )
    assert done.status_code == 200, done.text
    assert on_board(desk, number) is None
    again = desk.client.post(f"{path}/withhold", headers=operator, json={"reason": "再次"})
    assert again.status_code == 409 and "暂不公开" in again.json()["detail"]
    [off] = events_of(desk, number, "unpublished")
    assert off.reason == "暂不公开：含有未能隐去的邻居姓名" and off.actor.startswith("operator:")
    timeline = [step["kind"] for step in done.json()["timeline"]]
    assert timeline[-2:] == ["published", "unpublished"]
    assert desk.client.post(f"{path}/restore", headers=operator).status_code == 200
    assert on_board(desk, number) is not None
    assert [e.reason for e in events_of(desk, number, "published")][-1] == "恢复公开"


def test_withdrawing_consent_unpublishes_and_giving_it_publishes(desk: Desk) -> None:
    number = file(desk, consent=False)
    resolve(desk, number)
    now = datetime.now(UTC)
    with desk.sessions.begin() as session:
        ticket = service.get_ticket(session=session, ticket_no=number)
        assert ticket is not None
        given = publication.set_consent(session=session, ticket=ticket, consent=True, now=now)
        assert given is not None and given.data.kind.value == "published"
        assert (
            publication.set_consent(session=session, ticket=ticket, consent=True, now=now) is None
        )
    assert on_board(desk, number) is not None
    with desk.sessions.begin() as session:
        ticket = service.get_ticket(session=session, ticket_no=number)
        assert ticket is not None
        gone = publication.set_consent(session=session, ticket=ticket, consent=False, now=now)
        assert gone is not None and gone.data.actor == "citizen"
    assert on_board(desk, number) is None
    [off] = events_of(desk, number, "unpublished")
    assert off.reason == "市民撤回公开同意"


def test_a_withheld_ticket_is_not_published_when_it_is_answered(desk: Desk) -> None:
    number = file(desk)
    operator = desk.headers["operator"]
    path = f"{API}/tickets/{number}/publication/withhold"
    assert desk.client.post(path, headers=operator, json={"reason": "涉及纠纷"}).is_success
    resolve(desk, number)
    assert on_board(desk, number) is None
    assert events_of(desk, number, "published") == []
