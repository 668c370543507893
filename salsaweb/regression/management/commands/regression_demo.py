"""Reproduce the Salsa.jl example's demonstration: 10 batches of 100 rows of y = x + noise."""
from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser

from salsaweb.regression import scheduling, selectors, services
from salsaweb.regression.demo import seed_batches
from salsaweb.regression.models import Dataset
from salsaweb.regression.modes import Mode


class Command(BaseCommand):
    """Create (or replace) the demo dataset, add the batches one by one, train every mode after each."""

    help = (
        "Reproduce the seed's demonstration end to end: batches of y = x + noise, per batch and mode the "
        "time and iterations, then predictions at x = 10 and x = 100."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Options: dataset name, sizes, seed, modes and training settings."""
        parser.add_argument("--name", default="regression-demo", help="dataset name (replaced if it exists)")
        parser.add_argument(
            "--owner", default="demo", help="username of the dataset's owner (created, without a password, if new)"
        )
        parser.add_argument("--batches", type=int, default=10)
        parser.add_argument("--rows", type=int, default=100, help="rows per batch")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--modes", default=",".join(Mode.values), help="comma-separated modes to train")
        parser.add_argument("--learning-rate", type=float, default=None, help="fixed step (default: auto)")
        parser.add_argument("--momentum", type=float, default=None, help="momentum (default: auto)")
        parser.add_argument("--max-iterations", type=int, default=100)
        parser.add_argument("--no-standardize", action="store_true", help="descend on raw weights, as the seed")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the demonstration and print its table and predictions."""
        owner, _ = get_user_model().objects.get_or_create(
            username=options["owner"], defaults={"password": make_password(None)}
        )
        existing = Dataset.objects.filter(owner=owner, name=options["name"]).first()
        if existing is not None:
            services.dataset_delete(dataset=existing)
            self.stdout.write(f"replaced the existing dataset {options['name']!r}")
        modes = [m.strip() for m in options["modes"].split(",") if m.strip()]
        dataset = services.dataset_create(
            owner=owner,
            name=options["name"],
            features=["x"],
            target="y",
            modes=modes,
            learning_rate=options["learning_rate"],
            momentum=options["momentum"],
            max_iterations=options["max_iterations"],
            standardize=not options["no_standardize"],
        )
        self.stdout.write(f"{'batch':>5} {'rows':>6} {'mode':<12} {'ms':>8} {'iters':>6} {'converged':>9} {'loss':>12}")
        batches = seed_batches(options["batches"], options["rows"], options["seed"])
        for number, content in enumerate(batches, start=1):
            _, states = scheduling.batch_accept(dataset=dataset, content=content, source=f"demo-{number}.csv",
                                                train_now=True)
            runs = {run["mode"]: run for run in selectors.run_list(dataset=dataset, batch_number=number)}
            for state in states:
                run = runs.get(state.mode)
                if run is None:
                    self.stdout.write(f"{number:>5} {'':>6} {state.mode:<12} not trained: {state.error}")
                    continue
                loss = "-" if run["loss"] is None else f"{run['loss']:.6g}"
                self.stdout.write(
                    f"{number:>5} {run['rows_total']:>6} {run['mode']:<12} {run['wall_ms']:>8.1f} "
                    f"{run['iterations']:>6} {'yes' if run['converged'] else 'no':>9} {loss:>12}"
                )
        self.stdout.write("")
        for mode in modes:
            model = selectors.model_get(dataset=dataset, mode=mode)
            low, high = selectors.model_predict(dataset=dataset, mode=mode, rows=np.array([[10.0], [100.0]]))
            self.stdout.write(
                f"{mode:<12} predict(10) = {low:.6f}   predict(100) = {high:.6f}   "
                f"(w = {model['weights']['x']:.6f}, b = {model['bias']:.6f})"
            )
            for warning in model["warnings"]:
                self.stdout.write(f"  note: {warning}")
            if model["message"]:
                self.stdout.write(f"  note: {model['message']}")
        best = model["optimum"]
        self.stdout.write(
            f"{'optimum':<12} predict(10) = {best['weights']['x'] * 10 + best['bias']:.6f}   "
            f"predict(100) = {best['weights']['x'] * 100 + best['bias']:.6f}   (least squares over all rows)"
        )
