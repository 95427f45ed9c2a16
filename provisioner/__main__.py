"""`python -m provisioner` is the same as `python provision.py`."""

from provisioner.cli import main

raise SystemExit(main())
