"""``python -m agentkit.cli``: the ``agentkit`` command."""

import sys

from agentkit.cli import main

if __name__ == "__main__":  # importing this module (pkgutil.walk_packages does) runs nothing
    sys.exit(main())
