"""`python -m aurion_pipeline.cli`: the same as the `aurion-pipeline` command."""

import sys

from aurion_pipeline.cli import main

sys.exit(main())
