"""No personal datum of the simulated day reaches the public board.

The simulated day's real citizen messages and real unit replies (`feedbackloop.simulate`),
each with names, phone numbers, ID numbers, licence plates, house numbers, e-mail and WeChat
ids written into the citizen's words and the reply, go through followup unmasked (stricter
than production, where intake masks phones and IDs first) with consent; then every page of
the board, every item page, every page of the JSON and the RSS feed are read.
"""

import random
import string
from dataclasses import dataclass

from feedbackloop.devstack.config import StackSettings
from feedbackloop.public_text import SURNAMES
from feedbackloop.simulate.plan import plan_day
from tests.followup.conftest import Desk
from tests.followup.publication.helpers import file, resolve

ITEMS = 40


@dataclass(frozen=True)
class Person:
    """The personal data injected into one item."""

    name: str
    phone: str
    landline: str
    resident_id: str
    plate: str
    house: str
    email: str
    wechat: str

    @property
    def values(self) -> list[str]:
        return [
            self.name,
            self.phone,
            self.landline,
            self.resident_id,
            self.plate,
            self.house,
            self.email,
            self.wechat,
            f"{self.name[0]}先生",
        ]


def person(rng: random.Random) -> Person:
    digits = string.digits
    return Person(
        name=rng.choice(SURNAMES) + "".join(rng.choices("伟芳娜敏静丽强磊军洋勇艳杰", k=2)),
        phone="1" + rng.choice("3589") + "".join(rng.choices(digits, k=9)),
        landline="0731-" + "".join(rng.choices(digits, k=8)),
        resident_id="4301" + "".join(rng.choices(digits, k=13)) + rng.choice("0123456789X"),
        plate="湘A" + "".join(rng.choices(string.ascii_uppercase[:8] + digits, k=5)),
        house=f"{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元{rng.randint(101, 2806)}室",
        email=f"user{rng.randint(1000, 9999)}@example.cn",
        wechat="wx_" + "".join(rng.choices(string.ascii_lowercase + digits, k=8)),
    )


def test_no_injected_personal_datum_of_the_simulated_day_reaches_the_board(desk: Desk) -> None:
    rng = random.Random(20261204)
    planned = plan_day(items=ITEMS, seed=5, data_dir=StackSettings().data_dir)
    injected: list[str] = []
    for item in planned:
        who = person(rng)
        injected += who.values
        text = (
            f"我叫{who.name}，住{who.house}，电话{who.phone}，身份证{who.resident_id}。"
            f"{item.text[:3000]}门口被车牌{who.plate}的车堵住，"
            f"邮箱{who.email}，微信号{who.wechat}"
        )
        reply = (
            f"已联系{who.name[0]}先生（{who.phone}、{who.landline}），"
            f"对{who.house}现场核实：{item.reply[:3000]}"
        )
        number = file(desk, text, title=item.title[:60] or None)
        resolve(desk, number, reply=reply)
    pages = []
    board = desk.client.get("/board")
    total_pages = 1 + (ITEMS - 1) // 20
    for page in range(1, total_pages + 1):
        listing = desk.client.get("/board", params={"page": str(page)})
        assert listing.status_code == 200
        pages.append(listing.text)
    feed_pages = []
    for page in range(1, 1 + (ITEMS - 1) // 50 + 1):
        feed = desk.client.get("/board.json", params={"page": str(page), "per_page": "50"})
        assert feed.status_code == 200
        feed_pages.append(feed.json())
    numbers = [i["ticket_no"] for f in feed_pages for i in f["items"]]
    assert len(numbers) == ITEMS and feed_pages[0]["total"] == ITEMS
    items = [desk.client.get(f"/board/{no}") for no in numbers]
    assert {i.status_code for i in items} == {200}
    rss = desk.client.get("/board.rss")
    assert rss.status_code == 200
    everything = "\n".join(
        [board.text, *pages, *(i.text for i in items), rss.text, *(str(f) for f in feed_pages)]
    )
    leaked = sorted({value for value in injected if value in everything})
    assert leaked == [], leaked
    assert "138****5678" not in everything  # the contact's (masked) phone is not shown either
