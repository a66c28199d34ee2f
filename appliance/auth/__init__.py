"""API keys (hash only, constant-time compare), rate limits and budgets, the admin credential."""
