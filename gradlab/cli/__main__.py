"""``python -m gradlab.cli``: the ``gradlab`` command."""

import sys

from gradlab.cli.main import main

sys.exit(main())
