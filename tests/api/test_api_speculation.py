"""Speculative decoding through the API: the admin policy, per-request opt-out, the usage
extension, the ledger row and /metrics, with the official openai client on the live server."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from api_support import MODEL
from prometheus_samples import sample

PASSAGE = ("Alder Bend sits where two valleys meet. Its mill, built in 1852, ground grain for the farms of "
           "the county until the railway came. The mill is a museum now, and the old station a library.")


@pytest.fixture()
def admin(served):
    client = served.http()
    client.headers.update(served.admin())
    before = client.get("/admin/speculation").json()[MODEL]
    yield client
    client.put("/admin/speculation", json={"model": MODEL, "method": before["method"], "k": before["k"]})


def _ask(served, **extra):
    return served.client(served.key()).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"Repeat exactly:\n\n{PASSAGE}"}], max_tokens=24,
        temperature=0, extra_body=extra or None)


def test_policy_at_run_time_same_text_and_figures_everywhere(served, admin) -> None:
    off = _ask(served)
    assert off.usage.model_extra.get("speculation") is None
    changed = admin.put("/admin/speculation", json={"model": MODEL, "method": "ngram", "k": 4})
    assert changed.status_code == 200 and changed.json()[MODEL]["method"] == "ngram"
    on = _ask(served)
    assert on.choices[0].message.content == off.choices[0].message.content
    figures = on.usage.model_extra["speculation"]
    assert 0 < figures["accepted_tokens"] <= figures["draft_tokens"]
    assert _ask(served, speculative=False).usage.model_extra.get("speculation") is None
    view = admin.get("/admin/speculation").json()[MODEL]
    assert view["num_accepted_tokens"] >= figures["accepted_tokens"] and 0 < view["acceptance_rate"] <= 1
    metrics = served.http().get("/metrics").text
    assert sample(metrics, "airlock:spec_decode_num_accepted_tokens_total", model_name=MODEL) is not None
    ledger = served.appliance.ledger
    deadline = time.monotonic() + 10
    row = None
    while row is None and time.monotonic() < deadline:
        ledger.flush(timeout=5)
        with ledger.engine.connect() as conn:
            row = conn.execute(text("SELECT spec_draft_tokens, spec_accepted_tokens FROM usage_records "
                                    "WHERE request_id = :id"), {"id": on.id}).first()
        time.sleep(0.1)
    assert row is not None and tuple(row) == (figures["draft_tokens"], figures["accepted_tokens"])


def test_self_draft_at_run_time_reserves_its_memory_and_keeps_the_text(served, admin) -> None:
    """The int8 copy drafts, fp32 verifies: same text; the copy's weights and K/V are reserved
    while it drafts and freed after. A draft model that is not in the store is refused by name."""
    free = lambda: admin.get("/admin/models").json()["free_bytes"]   # noqa: E731
    off, free_before = _ask(served), free()
    changed = admin.put("/admin/speculation", json={"model": MODEL, "method": "self", "k": 4})
    assert changed.status_code == 200 and changed.json()[MODEL]["draft_precision"] == "int8"
    assert free() < free_before - 100 * 2**20                                # int8 SmolLM2 is ~136 MB
    on = _ask(served)
    assert on.choices[0].message.content == off.choices[0].message.content
    assert on.usage.model_extra["speculation"]["accepted_tokens"] > 0
    missing = admin.put("/admin/speculation", json={"model": MODEL, "method": "draft", "draft_model": "no-such"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "draft_model"
    assert "no-such" in missing.json()["error"]["message"]
    assert admin.get("/admin/speculation").json()[MODEL]["method"] == "self"   # the refused change did nothing
    assert admin.put("/admin/speculation", json={"model": MODEL, "method": "none"}).status_code == 200
    assert free() == free_before


@pytest.mark.parametrize("body, param", [({"method": "magic"}, "method"), ({"k": 0}, "k"),
                                         ({"speed": 3}, "speed")])
def test_bad_speculation_settings_are_400(admin, body, param) -> None:
    response = admin.put("/admin/speculation", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
