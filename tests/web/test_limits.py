"""The shared body cap: 413 problem+json past it, declared or streamed, whatever reads it."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Form, Request
from pydantic import BaseModel

from feedbackloop.web.limits import BodySizeLimit


class Item(BaseModel):
    text: str


def app() -> FastAPI:
    made = FastAPI()

    @made.post("/json")
    def json_body(item: Item) -> dict[str, int]:
        return {"length": len(item.text)}

    @made.post("/form")
    def form_body(text: Annotated[str, Form()]) -> dict[str, int]:
        return {"length": len(text)}

    @made.post("/raw")
    async def raw_body(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    @made.post("/batch")
    async def batch(request: Request) -> dict[str, int]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
        return {"length": total}

    made.add_middleware(BodySizeLimit, max_bytes=4096, large_paths={"/batch": 65536})
    return made


async def pieces(total: int, size: int = 1000) -> AsyncIterator[bytes]:
    yield b'{"text": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


def post(path: str, **options: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(path, **options)

    return asyncio.run(go())


def assert_413(reply: httpx.Response) -> None:
    assert reply.status_code == 413, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["title"] == "提交的内容太大"
    assert "4 KB" in reply.json()["detail"]


def test_a_body_under_the_cap_is_read() -> None:
    assert post("/json", json={"text": "路灯不亮"}).json() == {"length": 4}
    assert post("/form", data={"text": "x" * 3000}).json() == {"length": 3000}


def test_a_declared_length_over_the_cap_is_refused() -> None:
    for path in ("/json", "/form", "/raw"):
        assert_413(post(path, content=b"x" * 5000, headers={"content-type": "application/json"}))


def test_a_streamed_body_over_the_cap_is_refused_by_every_kind_of_reader() -> None:
    for path, content_type in (
        ("/json", "application/json"),
        ("/form", "application/x-www-form-urlencoded"),
        ("/raw", "application/octet-stream"),
    ):
        # A generator: chunked, no Content-Length to go by.
        assert_413(post(path, content=pieces(10_000), headers={"content-type": content_type}))


def test_a_path_with_a_larger_cap_takes_more_and_is_capped_too() -> None:
    assert post("/batch", content=pieces(20_000)).json()["length"] > 20_000
    reply = post("/batch", content=pieces(100_000))
    assert reply.status_code == 413 and "64 KB" in reply.json()["detail"]


def test_a_malformed_content_length_is_refused() -> None:
    reply = post("/json", content=b"{}", headers={"content-length": "12abc"})
    assert reply.status_code == 413
