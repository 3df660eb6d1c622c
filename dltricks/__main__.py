"""`python -m dltricks ...` is `dltricks ...`."""

import sys

from dltricks.cli import main

sys.exit(main())
