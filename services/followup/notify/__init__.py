"""Citizen notifier: tells citizens what happened to their ticket on the channel they used.

WeChat items get a WeChat message, web and Open311 items an SMS, hotline callers a callback
task for an agent. Every notification is delivered at most once per event id.
"""

from services.followup.notify.callbacks import (
    CallbackAlreadyDone,
    get_callback,
    list_open_callbacks,
    update_callback_done,
)
from services.followup.notify.errors import DeliveryError
from services.followup.notify.models import CallbackOutcome, CallbackTask, NotificationRecord
from services.followup.notify.notifier import Notification, Notifier, Status
from services.followup.notify.sms import SmsError, SmsGateway
from services.followup.notify.staff import StaffWebhook, StaffWebhookError
from services.followup.notify.texts import Purpose, render, template_data
from services.followup.notify.wechat import WeChatClient, WeChatError

__all__ = [
    "CallbackAlreadyDone",
    "CallbackOutcome",
    "CallbackTask",
    "DeliveryError",
    "Notification",
    "NotificationRecord",
    "Notifier",
    "Purpose",
    "SmsError",
    "SmsGateway",
    "StaffWebhook",
    "StaffWebhookError",
    "Status",
    "WeChatClient",
    "WeChatError",
    "get_callback",
    "list_open_callbacks",
    "render",
    "template_data",
    "update_callback_done",
]
