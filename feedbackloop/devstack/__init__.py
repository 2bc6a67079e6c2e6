"""Running feedbackloop on one machine: a local Kafka broker and the four service processes."""
