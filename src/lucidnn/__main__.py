"""``python -m lucidnn``: the command-line interface."""

import sys

from lucidnn.cli.main import main

sys.exit(main())
