"""The `feedbackloop` command: run the stack, its broker and its services."""

import logging
import os

import typer

from feedbackloop.cli import (
    dlq,
    followup,
    imports,
    intake,
    kafka,
    report,
    router,
    serve,
    simulate,
    stack,
)

app = typer.Typer(
    help="feedbackloop: citizen feedback from intake to department queue, on the clock.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(imports.app, name="import")
app.add_typer(router.app, name="router")
app.add_typer(followup.app, name="followup")
app.add_typer(dlq.app, name="dlq")
app.add_typer(intake.app, name="intake")
app.command("serve")(serve.serve)
app.command("up")(stack.up)
app.command("status")(stack.status)
app.command("report")(report.report)
app.command("simulate")(simulate.simulate)


def main() -> None:
    """Entry point of the console script."""
    logging.basicConfig(
        level=os.environ.get("FEEDBACKLOOP_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        # Client libraries log every connection at INFO; the CLI says what matters itself.
        for noisy in ("kafka", "aiokafka", "httpx", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    app()
