"""Who hears about changes: the change feed, its bridge between servers, the live-event broker, listeners, waiters."""
