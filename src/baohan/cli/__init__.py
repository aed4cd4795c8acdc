"""The ``baohan`` command line."""
