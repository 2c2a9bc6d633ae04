"""`python -m mppcli` runs the `mpp` command."""

from mppcli.cli.app import main

if __name__ == "__main__":
    main()
