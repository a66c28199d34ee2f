"""Helpers of the API tests: the live-server handle and a config on a temporary data dir."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
from appliance.auth.keys import KeySpec
from appliance.config import Config
from appliance.server import Server
from appliance.services import Appliance

MODEL = "smollm2"


@dataclass
class Live:
    appliance: Appliance
    server: Server
    url: str

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.appliance.admin_token}"}

    def key(self, name: str = "test", **settings) -> str:
        """A fresh API key's secret."""
        return self.appliance.keys.create(KeySpec(name=name, **settings))[1]

    def client(self, secret: str | None = None, **kwargs) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=secret or self.key(), max_retries=0,
                             timeout=120, **kwargs)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


def make_config(data_dir: Path, **server) -> Config:
    config = Config(data_dir=str(data_dir))
    for name, value in server.items():
        setattr(config.server, name, value)
    return config


