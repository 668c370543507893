"""The REST API (Django REST framework): datasets, batches, models, predictions, run records and memos."""
