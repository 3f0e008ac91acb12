"""The bot: one :class:`~darekana.bot.service.Service` where every rule lives (recognise, store, claim an
answer, correct, confirm, review, export, which answers are worth a post, who sees what, forgetting,
retention), the plain records it speaks
(:mod:`~darekana.bot.records`), the database behind it (:mod:`~darekana.bot.storage`, which only the core
opens), and one package per platform (``discord``, ``twitter``, ``http``) that only translates to and from
the service."""
