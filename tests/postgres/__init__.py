"""A real PostgreSQL server for the tests: installed when missing, started once per test run,
always stopped."""
