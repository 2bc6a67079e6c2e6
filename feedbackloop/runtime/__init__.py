"""How services run: SQL stores, Kafka topics and publishing, and the one consumer runtime
(`batches`, `store_batches`, `consumers`) every per-item consumer runs on.

Infrastructure only, with no domain logic: services share their event contracts
(`feedbackloop.events`) and this plumbing, and never import each other.
"""
