"""The job lifecycle: service, scheduler, runner, queue, admission, claims, retention, watchdog, health."""
