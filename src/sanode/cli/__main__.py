"""``python -m sanode.cli`` (and ``torchrun ... -m sanode.cli train ...``): the ``sanode`` command."""

from sanode.cli import main

raise SystemExit(main())
