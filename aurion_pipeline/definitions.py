"""The one Dagster `Definitions` of aurion-pipeline, built from the environment's settings once.
Loads with no API key set (keys are read when a run builds its clients)."""

import os

from aurion_pipeline.config import load_settings
from aurion_pipeline.defs import build_defs
from aurion_pipeline.defs.instance_tuning import tune_event_batching

tune_event_batching(os.environ)  # a run worker the daemon launched imports this before it executes
defs = build_defs(load_settings())
