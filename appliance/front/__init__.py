"""The HTTP front: an event-driven server (uvicorn) before the Flask app, its limits and its drain."""
