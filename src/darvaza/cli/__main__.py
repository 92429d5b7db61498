"""`python -m darvaza.cli`."""

from darvaza.cli import main

main()
