"""The open311 channel (being built)."""

from fastapi import APIRouter

router = APIRouter(tags=["open311"])
