"""公开 (the public board): answered tickets whose citizen agreed, masked, for anyone to read."""
