"""Several appliances on one database behind HAProxy (docs/fleet.md)."""
