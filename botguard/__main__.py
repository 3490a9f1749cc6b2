"""`python -m botguard` is the same as the `botguard` command."""

import sys

from botguard.cli import main

sys.exit(main())
