"""Reading the mixed local time formats of the message-board exports."""

from datetime import datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")


def parse_local_time(value: str) -> datetime | None:
    """A Beijing-time stamp such as '2019/4/25 9:32:09' or '2019-04-25 09:32:09', or None."""
    for fmt in FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    return None
