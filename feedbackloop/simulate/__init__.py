"""A simulated 12345 day: planned from real citizen messages, replayed through a running stack."""
