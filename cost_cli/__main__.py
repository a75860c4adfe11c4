"""``python -m cost_cli`` runs the ``cost`` command."""

from .cli import main

if __name__ == "__main__":
    main()
