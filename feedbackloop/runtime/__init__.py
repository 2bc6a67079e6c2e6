"""How services run: SQL stores, Kafka topics and publishing, the router's batch loop
(`batches`) and faust stream apps with the project's defaults (followup).

Infrastructure only, with no domain logic: services share their event contracts
(`feedbackloop.events`) and this plumbing, and never import each other.
"""
