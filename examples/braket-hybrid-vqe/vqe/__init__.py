"""A small VQE, run as a Braket hybrid job (see algorithm.py)."""
