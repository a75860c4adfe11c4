"""The version of cost-cli (a leaf module: the package and its modules import it from here)."""

__version__ = "0.2.0"
