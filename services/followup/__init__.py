"""Follow-up: the ticket store, deadlines and the ticket API after routing."""
