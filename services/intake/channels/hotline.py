"""The hotline channel (being built)."""

from fastapi import APIRouter

router = APIRouter(tags=["hotline"])
