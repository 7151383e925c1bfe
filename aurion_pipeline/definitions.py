"""The one Dagster `Definitions` of aurion-pipeline, built from the environment's settings once.
Loads with no API key set (keys are read when a run builds its clients)."""

from aurion_pipeline.config import load_settings
from aurion_pipeline.defs import build_defs

defs = build_defs(load_settings())
