"""`python -m pyctl` runs the pyctl command line."""

import sys

from .cli import main

sys.exit(main())
