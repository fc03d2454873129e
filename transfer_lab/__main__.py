"""`python -m transfer_lab`: see transfer_lab.cli.main."""

import sys

from transfer_lab.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
