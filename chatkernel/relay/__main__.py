"""``python -m chatkernel.relay``: the relay server without the kernel's CLI."""

from __future__ import annotations

import argparse
import sys

from ._cli import configure, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chatkernel.relay", description="Run the chatkernel relay.")
    configure(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
