"""Record the admin API's replies from a real appliance into recording.json: the frozen state
the snapshot tests replay. Run from the repository root after the admin API changes:

    .venv/bin/python tests/tui/record_replies.py

It starts `airlock serve` in a temporary directory, serves some traffic (chats, a key with
usage, a pinned prefix, a stored model), then walks the console through every screen with a
recording client.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx
import openai

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from tui_tour import SCREENS, show  # noqa: E402
from tui_service import ROOT, TOKEN, ServedProcess, service_at  # noqa: E402

from tui.app import create_app  # noqa: E402
from tui.recorded import RecordingClient  # noqa: E402

SYSTEM = "You are the helpdesk assistant of a hospital. Answer briefly and politely."


def traffic(service: ServedProcess) -> None:
    with service.http() as http:
        _try(http, "POST", "/admin/models/import", {"path": str(ROOT / "var/models/gemma-3-270m-q4_k_m.gguf")})
        _try(http, "POST", "/admin/cache/pins", {"model": "smollm2-135m-instruct", "prompt": SYSTEM})
        key = http.post("/admin/keys", json={"name": "radiology-app", "tenant": "radiology",
                                             "requests_per_minute": 60, "token_budget": 1000000}).json()
        http.post("/admin/keys", json={"name": "pharmacy-bot", "tenant": "pharmacy", "tokens_per_minute": 20000})
    client = openai.OpenAI(base_url=f"{service.url}/v1", api_key=key["secret"])
    for question in ("Where is radiology?", "When is the pharmacy open?", "Where is radiology?"):
        client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=32, messages=[
            {"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])


def _try(http: httpx.Client, method: str, path: str, body: dict) -> None:
    response = http.request(method, path, json=body)
    if response.is_error:
        print(f"{method} {path}: {response.status_code} {response.text[:200]}")


async def tour(service: ServedProcess) -> RecordingClient:
    client = RecordingClient(service.url, TOKEN)
    app = create_app(client, poll_seconds=None)
    async with app.run_test(size=(120, 40)) as pilot:
        for screen in SCREENS:
            await show(pilot, screen)
    return client


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service = service_at(Path(tmp))
        service.start()
        try:
            traffic(service)
            client = asyncio.run(tour(service))
        finally:
            service.stop()
    client.save(HERE / "recording.json")
    print(f"recorded {len(client.replies)} replies into {HERE / 'recording.json'}")


if __name__ == "__main__":
    main()
