"""``python -m scripts.cli``: the same as the ``registry`` command."""

from scripts.cli import main

main()
