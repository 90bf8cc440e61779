"""The Braket emulator fixtures come from tests/conftest.py (``pytest_plugins``)."""
