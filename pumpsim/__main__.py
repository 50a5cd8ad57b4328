"""``python -m pumpsim``: the same command line as the ``pumpsim`` console script."""

from pumpsim.cli import main

if __name__ == "__main__":
    main()
