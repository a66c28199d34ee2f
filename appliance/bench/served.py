"""A throwaway appliance on a loopback port for a benchmark: a data directory of its own, auth
off, the default model loaded at the precision asked for; stopped when the block ends."""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def served_appliance(prefix: str, quantization: str, model_file: str | None = None,
                     tune: Callable[[Any], None] = lambda settings: None) -> Iterator[tuple[Any, Any]]:
    """(appliance, server); `tune` adjusts the settings (a Config) before the start."""
    from appliance.config import Config
    from appliance.server import start_in_thread
    from appliance.services import Appliance

    with tempfile.TemporaryDirectory(prefix=prefix) as data_dir:
        settings = Config(data_dir=data_dir)
        settings.server.auth = False
        settings.models.default_quantization = quantization
        if model_file:
            settings.models.default_model_file = model_file
        tune(settings)
        appliance = Appliance.from_config(settings)
        server, thread = start_in_thread(appliance)
        try:
            yield appliance, server
        finally:
            server.stop()
            thread.join(timeout=60)
