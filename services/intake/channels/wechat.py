"""The wechat channel (being built)."""

from fastapi import APIRouter

router = APIRouter(tags=["wechat"])
