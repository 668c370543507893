#!/usr/bin/env python
"""Django's command-line utility for Salsaweb; defaults to the local development settings."""

import os
import sys


def main() -> None:
    """Run a Django management command with salsaweb.settings.local unless told otherwise."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
