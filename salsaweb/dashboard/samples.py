"""Sample datasets for a newcomer: the seed's ``y = x + noise`` batches and a multi-feature housing set.

Every mode is trained after each batch, here and now (``batch_accept(train_now=True)``, as
the seed's demonstration does), so the samples have one record per batch and mode for the
charts: uploads queue their training, and a fast upload sequence is folded into fewer updates.
"""
from __future__ import annotations

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser

from salsaweb.regression import scheduling, services
from salsaweb.regression.demo import seed_batches
from salsaweb.regression.models import Dataset
from salsaweb.regression.modes import Mode

SEED_NAME = "seed: y = x + noise"
HOUSES_NAME = "houses: price from size, rooms, age, distance"
HOUSE_FEATURES = ["size_m2", "rooms", "age_years", "distance_km"]
HOUSE_TARGET = "price_k"
#: Sized so the newcomer's timing chart tells the truth (bench/bench_samples.py measures it).
HOUSE_BATCHES, HOUSE_ROWS = 16, 1000


def house_batches(count: int = HOUSE_BATCHES, rows: int = HOUSE_ROWS, seed: int = 1) -> list[str]:
    """Synthetic house prices (thousands) from four correlated features, as CSV text with an id column.

    Larger houses have more rooms, so the features are correlated and plain gradient descent
    converges slowly; the ``id`` column is not a feature and shows that extra columns are ignored.
    """
    rng = np.random.default_rng(seed)
    out = []
    for number in range(count):
        size = np.clip(rng.normal(95.0, 30.0, rows), 25.0, None)
        rooms = np.clip(np.round(size / 28.0 + rng.normal(0.0, 0.7, rows)), 1.0, None)
        age = rng.uniform(0.0, 80.0, rows)
        distance = rng.uniform(0.5, 25.0, rows)
        price = 2.8 * size + 14.0 * rooms - 0.9 * age - 6.5 * distance + 60.0 + rng.normal(0.0, 18.0, rows)
        ids = np.arange(number * rows + 1, (number + 1) * rows + 1)
        lines = ["id," + ",".join(HOUSE_FEATURES) + "," + HOUSE_TARGET]
        lines += [
            f"{i},{s:.1f},{r:.0f},{a:.1f},{d:.2f},{p:.2f}"
            for i, s, r, a, d, p in zip(ids, size, rooms, age, distance, price)
        ]
        out.append("\n".join(lines) + "\n")
    return out


def sample_create(*, owner: AbstractBaseUser, name: str, features: list[str], target: str, modes: list[str],
                  batches: list[str], stem: str) -> Dataset:
    """One sample dataset: created, then each batch accepted and every mode trained on it, in order."""
    dataset = services.dataset_create(owner=owner, name=name, features=features, target=target, modes=modes)
    for number, content in enumerate(batches, start=1):
        scheduling.batch_accept(dataset=dataset, content=content, source=f"{stem}-{number}.csv", train_now=True)
    return dataset


def samples_seed(*, owner: AbstractBaseUser) -> list[Dataset]:
    """Create the sample datasets ``owner`` does not have yet, training after each batch; returns those created."""
    samples = [
        (SEED_NAME, ["x"], "y", Mode.values, seed_batches(), "seed"),
        (HOUSES_NAME, HOUSE_FEATURES, HOUSE_TARGET, ["incremental", "naive"], house_batches(), "houses"),
    ]
    return [
        sample_create(owner=owner, name=name, features=features, target=target, modes=modes, batches=batches,
                      stem=stem)
        for name, features, target, modes, batches, stem in samples
        if not Dataset.objects.filter(owner=owner, name=name).exists()
    ]
