"""Pareto marking on hand-made points; the SLO choice on a recorded sweep; SLO parsing."""
from __future__ import annotations

import pytest

from engine.bench.frontier import SchedulerSetting, SweepPoint, choose, mark_pareto, pareto_mask
from engine.slo import InvalidSlo, parse_seconds
from .sweep_fixture import BIG, MID, SMALL, point, recorded_points


def test_pareto_mask_keeps_exactly_the_undominated() -> None:
    scores = [(1, 1), (2, 0), (0, 2), (1, 0), (2, 2), (2, 2), (-1, -1)]
    assert pareto_mask(scores) == [False, False, False, False, True, True, False]
    assert pareto_mask([(3, -1), (2, -0.5), (1, -0.7)]) == [True, True, False]
    assert pareto_mask([]) == []


def test_mark_pareto_uses_throughput_up_and_p95_itl_down() -> None:
    points = recorded_points()
    optimal = [(p.concurrency, p.setting) for p in points if p.pareto]
    assert optimal == [(1, SMALL), (4, SMALL), (16, SMALL), (16, MID), (64, MID), (64, BIG)]
    assert not points[-1].pareto                                    # 185 tok/s at 110 ms < 190 at 90 ms


def test_a_point_without_itl_is_never_optimal() -> None:
    points = mark_pareto([point(1, SMALL, 40, 0.1, 0.02), SweepPoint(8, SMALL, output_tokens_per_s=999.0)])
    assert [p.pareto for p in points] == [True, False]


def test_tune_picks_the_fastest_point_meeting_both_targets() -> None:
    choice = choose(recorded_points(), ttft_p95=2.0, itl_p95=0.15)
    # (64, MID) has p95 TTFT 4 s: over 2 s, so (16, MID) at 190 tok/s wins
    assert (choice.point.concurrency, choice.point.setting) == (16, MID)
    text = "\n".join(choice.explanation)
    assert "190.0 output tok/s" in text and "230.0 tok/s" in text and "misses it" in text


def test_tune_with_an_itl_target_only_and_with_none_meeting() -> None:
    assert choose(recorded_points(), None, 0.1).point.output_tokens_per_s == 200.0
    none = choose(recorded_points(), ttft_p95=0.01, itl_p95=0.01)
    assert none.point is None and none.meeting == 0
    assert "no point of the sweep meets the SLO (p95 TTFT <= 10 ms, p95 ITL <= 10 ms)" in none.explanation[0]
    assert "nearest is seqs 8, budget 256, chunk - at 1 streams" in none.explanation[1]


def test_points_round_trip_through_dicts() -> None:
    p = recorded_points()[3]
    data = p.as_dict()
    assert data["max_prefill_chunk"] == 128 and "setting" not in data
    assert SweepPoint.from_dict(data) == p


@pytest.mark.parametrize("text,seconds", [("150ms", 0.15), ("2s", 2.0), ("0.5", 0.5), (" 2 S ", 2.0), (3, 3.0)])
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_seconds(text, "x") == pytest.approx(seconds)


@pytest.mark.parametrize("text,message", [
    ("-1s", "must be a positive duration"), ("0", "must be a positive duration"), ("0ms", "positive"),
    ("150us", "unknown unit 'us': use ms or s"), ("2 minutes", "unknown unit"), ("fast", "must be a duration"),
    ("", "must be a duration"), (float("nan"), "positive")])
def test_bad_durations_are_refused_clearly(text: object, message: str) -> None:
    with pytest.raises(InvalidSlo, match=message):
        parse_seconds(text, "--slo-itl-p95")


def test_png_and_terminal_charts_are_drawn(tmp_path) -> None:
    from engine.bench.frontier_plot import frontier_line, terminal_chart, write_png

    points = recorded_points()
    assert [p.itl_p95_s for p in frontier_line(points)] == sorted(p.itl_p95_s for p in points if p.pareto)
    png = write_png(points, tmp_path / "f.png", "title", "EUR")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    chart = terminal_chart(points, "frontier", width=60, height=15)
    assert "frontier" in chart and "\x1b[" not in chart and len(chart.splitlines()) == 15
