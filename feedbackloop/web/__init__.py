"""Plumbing of the server-rendered consoles (department workbench, operator console).

Signed session cookies with CSRF tokens (`sessions`), Jinja2 rendering with strict security
headers and the shared stylesheet and script (`pages`, `static/`), and the addresses of the
other services' pages for the navigation (`links`). Business rules stay in the services.
"""
