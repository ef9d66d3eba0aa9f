"""The training module's commands, one module per group; :mod:`training.__main__` routes to them."""
