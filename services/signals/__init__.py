"""Signals: hotspot (舆情 burst) detection over the routed items, in a faust worker."""
