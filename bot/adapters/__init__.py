"""Thin translations between platforms (Discord, X, HTTP) and :class:`bot.service.Service`."""
