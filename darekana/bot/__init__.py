"""The bot: one :class:`~darekana.bot.service.Service` where every rule lives (recognise, store, claim an
answer, correct, confirm, review, export), and one package per platform (``discord``, ``twitter``,
``http``) that only translates to and from it."""
