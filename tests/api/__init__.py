"""REST API tests: every endpoint, permission and error shape."""
