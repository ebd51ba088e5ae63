"""`python -m inpaint_studio` runs the same entry point as the `inpaint-studio` command."""

import sys

from inpaint_studio.cli import main

sys.exit(main())
