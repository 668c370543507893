"""Date and number formats that override Django's locale ones (``FORMAT_MODULE_PATH``)."""
