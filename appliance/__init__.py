"""Airlock appliance: the Flask API, the ledger, the model store and the command line."""
