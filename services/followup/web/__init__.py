"""The department workbench and the operators' extension approvals, as browser pages.

Thin handlers over the workbench API's functions (`services.followup.views`), which run the
flows: the pages add sign-in with a signed session cookie, CSRF tokens on every form, and
Chinese messages next to the field that caused them. Everything lives under /workbench.
"""

from fastapi import FastAPI

from feedbackloop.web.pages import mount_static
from feedbackloop.web.visits import install_exit_handler
from services.followup.web import cohandling, department, merges, operator, signin, warnings


def install(app: FastAPI) -> None:
    """Add the workbench pages, their static files and their error handling to an app."""
    mount_static(app)
    install_exit_handler(app)
    app.include_router(signin.router)
    app.include_router(department.router)
    app.include_router(operator.router)
    app.include_router(merges.router)
    app.include_router(cohandling.router)
    app.include_router(warnings.router)
