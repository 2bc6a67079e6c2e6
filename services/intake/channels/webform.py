"""The webform channel (being built)."""

from fastapi import APIRouter

router = APIRouter(tags=["webform"])
