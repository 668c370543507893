"""Incrementally maintained linear regression on the runtime: datasets, batches, three training modes."""
