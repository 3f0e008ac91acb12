"""darekana over HTTP: the JSON API and the page (:mod:`.api`; the page's files are in ``static/``)."""
