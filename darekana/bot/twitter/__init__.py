"""darekana on X (Twitter): the mention poller (:mod:`.poller`), the words of its posts and of people's
replies (:mod:`.text`), and whether it runs (:mod:`.state`)."""
