"""How services run: SQL stores and faust stream apps with the project's defaults.

Infrastructure only, with no domain logic: services share their event contracts
(`feedbackloop.events`) and this plumbing, and never import each other.
"""
