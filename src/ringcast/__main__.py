"""`python -m ringcast` runs the command line."""

from ringcast.cli import main

main()
