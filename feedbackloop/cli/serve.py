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


def serve(service: Service = typer.Argument(..., help="Which service to run.")) -> None:
    """Run one service until it is stopped (configured by FEEDBACKLOOP_<SERVICE>_* variables)."""
    config = importlib.import_module(f"services.{service.value}.config")
    factory = importlib.import_module(f"services.{service.value}.app")
    settings = config.Settings()
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
