"""The offline installer bundle: one tar archive with a wheelhouse, models, scripts and a MANIFEST."""
