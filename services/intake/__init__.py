"""Intake: turns what citizens send on any channel into FeedbackReceived events on Kafka."""
