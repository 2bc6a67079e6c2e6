"""`feedbackloop serve <service>`: one service in the foreground."""

import importlib
from enum import StrEnum

import typer
import uvicorn


class Service(StrEnum):
    """The services of the loop."""

    intake = "intake"
    router = "router"
    followup = "followup"
    metrics = "metrics"
    signals = "signals"


def serve(service: Service = typer.Argument(..., help="Which service to run.")) -> None:
    """Run one service until it is stopped (configured by FEEDBACKLOOP_<SERVICE>_* variables)."""
    config = importlib.import_module(f"services.{service.value}.config")
    factory = importlib.import_module(f"services.{service.value}.app")
    settings = config.Settings()
    if service is Service.signals:
        # A faust worker, not an ASGI app: faust's Worker runs it (and its web server).
        factory.run(settings)
        return
    app = factory.create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1; each app trusts exactly the
        # proxies of FEEDBACKLOOP_TRUSTED_PROXIES instead (feedbackloop/web/proxies.py).
        proxy_headers=False,
    )
