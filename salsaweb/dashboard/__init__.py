"""The web dashboard: sign in, datasets, CSV uploads, models, predictions and live charts."""
