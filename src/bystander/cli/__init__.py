"""The ``bystander`` command (Typer): the top layer, which may use every package."""
