"""Queue port: send, batch delivery, ack/retry semantics, delays, attempts, dead letters, crashes."""

from __future__ import annotations

import pytest

Q = "trade-execution"
DLQ = "trade-execution-dlq"


class Recorder:
    """A consumer that records what it saw and does what the test tells it per message."""

    def __init__(self, action=None) -> None:
        self.seen: list[tuple[object, int]] = []
        self.action = action

    async def __call__(self, batch) -> None:
        assert batch.queue == Q
        for m in batch.messages:
            self.seen.append((m.body, m.attempts))
            if self.action:
                self.action(m)


async def test_send_and_deliver_acks_by_default(adapters, clock):
    await adapters.queue(Q).send({"requestId": "r1"})
    rec = Recorder()
    seen_ids = []

    async def handler(batch):
        for m in batch.messages:
            seen_ids.append(m.id)
            if "fake_clock" in adapters.capabilities:
                assert m.timestamp == pytest.approx(clock())
        await rec(batch)

    assert await adapters.deliver(Q, handler) == 1
    assert rec.seen == [({"requestId": "r1"}, 1)]
    assert seen_ids[0]
    assert await adapters.deliver(Q, handler) == 0  # acked: never again
    if "queue_admin" in adapters.capabilities:
        assert adapters.queue_messages(Q) == []


async def test_batches_respect_max_batch_size_in_order(adapters):
    await adapters.queue(Q).send_batch([{"n": i} for i in range(5)])
    rec = Recorder()
    assert await adapters.deliver(Q, rec, max_batch_size=2) == 2
    assert await adapters.deliver(Q, rec, max_batch_size=2) == 2
    assert await adapters.deliver(Q, rec, max_batch_size=2) == 1
    assert [b for b, _ in rec.seen] == [{"n": i} for i in range(5)]


async def test_send_validates(adapters):
    with pytest.raises(TypeError):
        await adapters.queue(Q).send({"x": object()})
    with pytest.raises(TypeError):
        await adapters.queue(Q).send_batch([{"n": 1}, {"x": {1, 2}}])
    with pytest.raises(ValueError):
        await adapters.queue(Q).send({"x": "y" * 129 * 1024})
    assert await adapters.deliver(Q, Recorder()) == 0  # nothing of a refused send went out
    with pytest.raises(ValueError):
        await adapters.queue(Q).send({"x": 1}, delay_seconds=13 * 3600)
    with pytest.raises(ValueError):
        await adapters.queue(Q).send_batch([{"n": i} for i in range(101)])


@pytest.mark.needs("fake_clock")
async def test_delayed_message_waits(adapters, clock):
    await adapters.queue(Q).send({"later": True}, delay_seconds=30)
    rec = Recorder()
    assert await adapters.deliver(Q, rec) == 0
    clock.advance(30)
    assert await adapters.deliver(Q, rec) == 1


@pytest.mark.needs("fake_clock")
async def test_retry_with_delay_counts_attempts(adapters, clock):
    await adapters.queue(Q).send({"id": 1})
    rec = Recorder(lambda m: m.retry(delay_seconds=60) if m.attempts < 3 else None)
    assert await adapters.deliver(Q, rec) == 1
    clock.advance(59)
    assert await adapters.deliver(Q, rec) == 0
    clock.advance(1)
    assert await adapters.deliver(Q, rec) == 1
    clock.advance(60)
    assert await adapters.deliver(Q, rec) == 1  # third attempt returns without retry: acked
    clock.advance(3600)
    assert await adapters.deliver(Q, rec) == 0
    assert rec.seen == [({"id": 1}, 1), ({"id": 1}, 2), ({"id": 1}, 3)]


async def test_raising_handler_retries_only_unacked(adapters):
    await adapters.queue(Q).send_batch([{"n": 1}, {"n": 2}])

    async def handler(batch):
        batch.messages[0].ack()
        raise RuntimeError("exchange down")

    assert await adapters.deliver(Q, handler) == 2
    rec = Recorder()
    assert await adapters.deliver(Q, rec) == 1
    assert rec.seen == [({"n": 2}, 2)]


async def test_explicit_ack_wins_over_retry_all(adapters):
    await adapters.queue(Q).send_batch([{"n": 1}, {"n": 2}])

    async def handler(batch):
        batch.messages[1].ack()
        batch.retry_all()

    await adapters.deliver(Q, handler)
    rec = Recorder()
    await adapters.deliver(Q, rec)
    assert rec.seen == [({"n": 1}, 2)]


@pytest.mark.needs("queue_admin")
async def test_dead_letter_after_max_retries_and_replay(adapters):
    await adapters.queue(Q).send({"requestId": "r-dead"})

    async def failing(batch):
        raise RuntimeError("exchange outage")

    for _ in range(3):  # max_retries=2: delivered 3 times in all
        assert await adapters.deliver(Q, failing, max_retries=2, dead_letter_queue=DLQ) == 1
    assert await adapters.deliver(Q, failing, max_retries=2, dead_letter_queue=DLQ) == 0
    assert adapters.queue_messages(Q) == []
    [dead] = adapters.queue_messages(DLQ)
    assert dead["body"] == {"requestId": "r-dead"}
    assert "exchange outage" in dead["last_error"]
    assert dead["origin_queue"] == Q

    assert adapters.replay(dead["id"]) is True
    assert adapters.queue_messages(DLQ) == []
    rec = Recorder()
    assert await adapters.deliver(Q, rec) == 1
    assert rec.seen == [({"requestId": "r-dead"}, 1)]


class Crash(BaseException):
    """Stands for the process dying in the middle of a batch (nothing after it runs)."""


@pytest.mark.needs("crash")
async def test_message_in_flight_at_a_crash_is_redelivered_once(adapters):
    await adapters.queue(Q).send_batch([{"n": 1}, {"n": 2}])

    async def dies(batch):
        batch.messages[0].ack()  # finished before the crash
        raise Crash

    with pytest.raises(Crash):
        await adapters.deliver(Q, dies)
    # the same instance does not see a message it is still (as far as it knows) processing
    assert await adapters.deliver(Q, Recorder()) == 0

    again = adapters.reopen(instance_id="after-crash")
    rec = Recorder()
    assert await again.deliver(Q, rec) == 1
    assert rec.seen == [({"n": 2}, 2)]  # the acked one never comes back; the attempt counted
    assert await again.deliver(Q, rec) == 0


@pytest.mark.needs("fake_clock")
async def test_messages_expire_after_four_days(adapters, clock):
    await adapters.queue(Q).send({"old": True})
    clock.advance(4 * 24 * 3600 + 1)
    assert await adapters.deliver(Q, Recorder()) == 0
    assert adapters.queue_messages(Q) == []


@pytest.mark.needs("restart")
async def test_queued_messages_survive_a_restart(adapters):
    await adapters.queue(Q).send({"keep": True})
    again = adapters.reopen()
    rec = Recorder()
    assert await again.deliver(Q, rec) == 1
    assert rec.seen == [({"keep": True}, 1)]
