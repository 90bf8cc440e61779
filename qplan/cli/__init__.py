"""The ``qplan`` command line. Each command is one module; heavy imports happen inside them."""
