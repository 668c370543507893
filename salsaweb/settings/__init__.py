"""Settings package: ``base`` holds shared values; ``local``, ``test`` and ``production`` extend it."""
