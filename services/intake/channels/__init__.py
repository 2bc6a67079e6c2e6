"""One module per channel; each turns its input into a NewFeedback and calls accept_item."""
