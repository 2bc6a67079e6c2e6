"""`python -m feedbackloop` is the `feedbackloop` command."""

from feedbackloop.cli import main

main()
