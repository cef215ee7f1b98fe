"""The e2e tests share tests/conftest.py's fixtures (the session's Ray cluster among them)."""
