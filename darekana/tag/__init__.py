"""Tagging whole collections: ``darekana tag`` and, for scripts, :func:`darekana.tag.run.tag`.

``sources`` gathers the pictures, ``work`` is what a worker does with a chunk of them, ``local`` and
``cluster`` run workers here or on Ray, ``records`` and ``formats`` are the tag file, ``journal`` and
``tagfile`` make it resumable, ``summary`` counts, ``config`` holds the options and their defaults; the
command line is ``darekana.cli.tag``.
"""
