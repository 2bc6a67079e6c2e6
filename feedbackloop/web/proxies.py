"""The client's address behind reverse proxies: X-Forwarded-For only from the trusted ones.

uvicorn on its own believes X-Forwarded-For from 127.0.0.1, so any local client could name
its own address and walk past per-address limits. `feedbackloop serve` turns that off, and
each service trusts exactly the proxies listed in FEEDBACKLOOP_TRUSTED_PROXIES (none by
default); behind them the client is the rightmost address in the chain that is not a proxy.
"""

import ipaddress
import json
from typing import Annotated

from fastapi import FastAPI
from pydantic import BeforeValidator
from pydantic_settings import NoDecode
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


def parse_proxies(value: object) -> list[str]:
    """Proxies from a JSON list or a comma/space-separated string, as normalised IPs or CIDRs."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        raise ValueError("trusted proxies must be a list of IP addresses or CIDR networks")
    return [_normalised(str(entry).strip()) for entry in value]


def _normalised(entry: str) -> str:
    # uvicorn silently treats what it cannot parse as a literal that never matches: a typo
    # would trust nobody without a word, so it is refused at start instead.
    if entry == "*":
        raise ValueError("'*' would believe every client's X-Forwarded-For; list the proxies")
    try:
        if "/" in entry:
            return str(ipaddress.ip_network(entry, strict=False))
        return str(ipaddress.ip_address(entry))
    except ValueError:
        raise ValueError(f"{entry!r} is not an IP address or a CIDR network") from None


#: A settings field's type: JSON or comma-separated in the environment (NoDecode keeps
#: pydantic-settings from insisting on JSON).
TrustedProxies = Annotated[list[str], NoDecode, BeforeValidator(parse_proxies)]


def trust_proxies(app: FastAPI, proxies: list[str]) -> None:
    """Take the client's address from X-Forwarded-For when the peer is one of `proxies`.

    Call it after every other middleware is added: it must be outermost, so that body
    limits, rate limits and logs all see the client rather than the proxy.
    """
    if proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
