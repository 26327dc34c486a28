"""Telling the outside: signed webhooks and their URL guard, summary hand-offs (arq or in-process), outcomes."""
