"""`python -m bench`: the benchmark harness."""

from bench.cli import main

main()
