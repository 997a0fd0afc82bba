"""The app's features, one package each (``features/<id>/``).

Each feature package exports its contract as ``feature`` and nothing else public; importing it
registers nothing. The app's feature list is the ``chatkernel.features`` entry-point table in
``pyproject.toml`` (the seed's ``bootstrap.js``): ``bootstrap()`` with no arguments discovers and
registers what it lists, and third-party packages extend it the same way.
"""

__all__: list[str] = []
