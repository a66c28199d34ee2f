"""The Airlock admin console: a Textual app attached to the service over the admin API."""
