from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from genesys_sim import org

DAY = datetime(2024, 5, 1, tzinfo=UTC)


def ids(conversations) -> list[str]:
    return [c.id for c in conversations]


def test_it_gives_the_same_conversations_whatever_window_asks():
    whole_day = ids(org.iter_conversations(start=DAY, end=DAY + timedelta(days=1)))
    hour_by_hour = []
    for hour in range(24):
        start = DAY + timedelta(hours=hour)
        hour_by_hour += ids(org.iter_conversations(start=start, end=start + timedelta(hours=1)))
    assert whole_day == hour_by_hour
    assert len(set(whole_day)) == len(whole_day) > 1000


def test_it_cuts_windows_inside_a_minute_by_start_time():
    start, end = DAY + timedelta(hours=12, seconds=20), DAY + timedelta(hours=12, minutes=3)
    inside = list(org.iter_conversations(start=start, end=end))
    around = list(
        org.iter_conversations(start=start - timedelta(minutes=1), end=end + timedelta(minutes=1))
    )
    assert inside == [c for c in around if start <= c.start < end]
    assert org.count_conversations(start=start, end=end) == len(inside)


def test_it_yields_in_start_order_and_resumes_after_a_position():
    start, end = DAY + timedelta(hours=9), DAY + timedelta(hours=11)
    conversations = list(org.iter_conversations(start=start, end=end))
    starts = [c.start_ms for c in conversations]
    assert starts == sorted(starts)
    middle = conversations[57]
    resumed = org.iter_conversations(start=start, end=end, after=middle.position)
    assert ids(resumed) == ids(conversations[58:])


def test_it_counts_exactly_what_it_yields_for_every_filter():
    start, end = DAY + timedelta(hours=8, seconds=30), DAY + timedelta(hours=11, seconds=5)
    for filters in (
        {},
        {"view_id": "view-service"},
        {"media_types": ["voice", "email"]},
        {"directions": ["outbound"]},
        {"queue_ids": [org.RETENTION_ID], "media_types": ["voice"]},
    ):
        yielded = list(org.iter_conversations(start=start, end=end, **filters))
        assert org.count_conversations(start=start, end=end, **filters) == len(yielded)


def test_it_scopes_views_to_their_queues():
    start, end = DAY, DAY + timedelta(hours=6)
    service = list(org.iter_conversations(start=start, end=end, view_id="view-service"))
    # A conversation is in a view when it meets one of its queues, transferred in or out.
    assert {q for c in service for q in c.queue_ids} >= {org.SUPPORT_ID, org.BILLING_ID}
    everything = list(org.iter_conversations(start=start, end=end))
    assert ids(service) == [
        c.id for c in everything if {org.SUPPORT_ID, org.BILLING_ID} & set(c.queue_ids)
    ]
    assert any(c.queue_id == org.SALES_ID for c in service)  # transferred to Support or Billing
    # Conversations without a queue are in the view of everything only.
    assert any(not c.queue_ids for c in everything)
    with pytest.raises(org.UnknownView):
        org.count_conversations(start=start, end=end, view_id="view-nope")


def test_it_makes_plausible_conversations():
    conversations = list(org.iter_conversations(start=DAY, end=DAY + timedelta(days=1)))
    assert {c.media_type for c in conversations} == set(org.MEDIA_TYPES)
    assert {c.direction for c in conversations} == set(org.DIRECTIONS)
    assert {c.route for c in conversations} == set(org.ROUTES)
    assert {c.queue_id for c in conversations} == {None, *(q.id for q in org.QUEUES)}
    assert any(c.abandoned for c in conversations) and any(c.answered for c in conversations)
    assert any(c.flowed_out for c in conversations)
    for c in conversations:
        assert c.minute * 60_000 <= c.start_ms < (c.minute + 1) * 60_000
        assert c.start.tzinfo is UTC and c.end >= c.start
        assert c.handle == pytest.approx(
            c.talk
            + c.hold
            + c.acw
            + sum(leg.dialing_ms + leg.contacting_ms for leg in c.legs) / 1000
        )
        assert c.last_emit_ms - c.start_ms <= c.kind.lifetime_ms
        for leg in c.legs:
            if leg.user_id is None:
                assert leg.talks == leg.holds == () and leg.acw_ms == 0
                assert leg.outcome in ("abandoned", "flowout")
                continue
            if leg.queue_id is not None:
                assert leg.user_id in org.QUEUES_BY_ID[leg.queue_id].agent_ids
            assert len(leg.talks) == len(leg.holds) + 1
        if c.route == "queue":
            assert c.direction == "inbound" and all(leg.offered for leg in c.legs)
            assert c.media_type in org.QUEUE_MEDIA_TYPES
        else:
            # Placed by an agent, or straight to one: no queue offer, no wait, always handled.
            assert [leg.offered for leg in c.legs] == [False] and c.wait == 0 and c.answered
            assert c.direction == ("outbound" if c.route == "outbound" else "inbound")
            if c.route != "outbound":
                assert c.queue_id is None
        if len(c.legs) == 2:
            first, second = c.legs
            assert first.transferred and first.user_id != second.user_id
            assert second.enter_ms == first.disconnect_ms and second.queue_id != first.queue_id
    held = [c for c in conversations if c.hold > 0]
    assert {"voice", "chat", "email", "message"} <= {c.media_type for c in held}
    assert any(len(leg.holds) > 1 for c in held for leg in c.legs)
    assert len(held) < len([c for c in conversations if c.answered]) / 2
    transferred = [c for c in conversations if len(c.legs) == 2]
    assert 0 < len(transferred) < len(conversations) / 10


def test_its_shares_of_routes_and_media_look_like_a_contact_centre():
    conversations = list(org.iter_conversations(start=DAY, end=DAY + timedelta(days=7)))
    share = Counter(c.route for c in conversations)
    for route, expected in org.ROUTE_SHARES.items():
        assert share[route] / len(conversations) == pytest.approx(expected, abs=0.02)
    outbound = [c for c in conversations if c.route == "outbound"]
    for_a_queue = sum(c.queue_id is not None for c in outbound) / len(outbound)
    assert for_a_queue == pytest.approx(org.OUTBOUND_QUEUE_SHARE, abs=0.05)
    video = sum(c.media_type == "video" for c in conversations) / len(conversations)
    assert 0 < video < 0.02
    offered = [leg for c in conversations for leg in c.legs if leg.offered]
    short = [leg for leg in offered if leg.outcome == "abandoned" and leg.wait_ms < 10_000]
    flowed = [leg for leg in offered if leg.outcome == "flowout"]
    assert 0.005 < len(short) / len(offered) < 0.1
    assert 0.005 < len(flowed) / len(offered) < 0.1


def test_it_counts_and_selects_by_route():
    start, end = DAY + timedelta(hours=9), DAY + timedelta(hours=10)
    for route in org.ROUTES:
        yielded = list(org.iter_conversations(start=start, end=end, routes=[route]))
        assert yielded and {c.route for c in yielded} == {route}
        assert org.count_conversations(start=start, end=end, routes=[route]) == len(yielded)


def test_it_follows_a_daily_curve():
    week = [DAY + timedelta(days=d) for d in range(7)]
    noon = sum(
        org.count_conversations(start=d + timedelta(hours=12), end=d + timedelta(hours=13))
        for d in week
    )
    night = sum(
        org.count_conversations(start=d + timedelta(hours=3), end=d + timedelta(hours=4))
        for d in week
    )
    assert noon > 5 * night > 0


@pytest.mark.parametrize("per_day", [2000, 100_000])
def test_it_averages_the_configured_volume_per_day(settings, per_day):
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = per_day
    total = org.count_conversations(start=DAY, end=DAY + timedelta(days=7))
    assert total / 7 == pytest.approx(per_day, rel=0.15)


def test_it_depends_on_the_seed(settings):
    window = {"start": DAY, "end": DAY + timedelta(hours=1)}
    first = [(c.start_ms, c.media_type) for c in org.iter_conversations(**window)]
    settings.GENESYS_SIM_SEED = 7
    assert [(c.start_ms, c.media_type) for c in org.iter_conversations(**window)] != first


def test_it_streams_long_ranges_without_building_them():
    conversations = org.iter_conversations(start=DAY, end=DAY + timedelta(days=90))
    first = next(conversations)  # a generator: nothing beyond the first minute is made yet
    assert first.start < DAY + timedelta(minutes=10)
