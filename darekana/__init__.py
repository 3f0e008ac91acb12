"""darekana ("who could it be?"): names the anime characters in a picture.

* :mod:`darekana.recognizer`: picture bytes in, named faces out (ONNX Runtime, no torch);
* :mod:`darekana.train`: makes and scores the bundles the recognizer loads (torch);
* :mod:`darekana.tag`: names the characters of a whole collection into a tag file (resumable; Ray);
* :mod:`darekana.bot`: one service with Discord, X and HTTP adapters, storage on SQLAlchemy + Alembic;
* :mod:`darekana.cli`: the ``darekana`` command, one module per command group.

``bot``, ``tag`` and ``train`` use ``recognizer``, never each other (``tests/test_structure.py`` checks).
"""
