"""The package version, in the bottom layer so any module can record it (the root package
``bystander`` is the public facade above every layer and is not imported from inside)."""

__version__ = "0.1.0"
