"""Counter-based random draws: each (tenant, day, stream) gets its own independent number, whatever
range it is drawn in, so one big request and many small ones serve the same figures."""

from __future__ import annotations

import hashlib

import numpy as np


def seed_of(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a counter-based hash, so each (tenant, day, stream) draw is independent."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def uniform(seeds: np.ndarray, ordinal: np.ndarray, stream: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        counter = ordinal.astype(np.uint64) * np.uint64(16) + np.uint64(stream) + np.uint64(0x9E3779B97F4A7C15)
        bits = mix(seeds ^ mix(counter))
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1), safe for log


def normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
