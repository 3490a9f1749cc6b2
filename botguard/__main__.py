"""`python -m botguard` is the same as the `botguard` command (whose entry point is :func:`run`).

A command the resident server serves (``botguard daemon``) goes there before click, polars or
numpy are imported here; every other command, and any the server will not run, runs in this
process.
"""

import sys


def run() -> None:
    """Console-script entry point."""
    from botguard.resident.client import served

    args = sys.argv[1:]
    status = served(args)
    if status is None:
        from botguard.cli import main

        status = main(args)
    sys.exit(status)


if __name__ == "__main__":
    run()
