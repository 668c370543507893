"""Dashboard tests: pages, commands, admin links and the browser test."""
