"""The Azure Quantum data-plane emulator (``emulator``), its records (``records``) and its
pytest fixtures (``fixture``); blobs live in Azurite (``tests/emulators/azurite``)."""
