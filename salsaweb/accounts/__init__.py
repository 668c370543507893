"""Accounts: sign-up (when the operator turns it on with SALSAWEB_SIGNUP) and each user's API token."""
