"""The HTTP surface: one blueprint per resource (OpenAI endpoints, admin, health, metrics)."""
