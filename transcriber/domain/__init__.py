"""The domain types every layer shares: jobs and their statuses, job options, channel and speaker fields."""
