"""Queue leases end: a zombie holds none, a lease that outlives its consumer's budget is released
whatever the pid check says, and a consumer that runs past its budget is stopped and retried."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path

from hoox_edge.local import queues
from hoox_edge.local.queues import QueueStore

Q = "trade-execution"
DLQ = "trade-execution-dlq"


class Crash(BaseException):
    """The process dying in the middle of a batch."""


async def crashes(batch) -> None:
    raise Crash


async def leased_by_a_crash(store: QueueStore) -> None:
    await store.producer(Q).send({"n": 1})
    with contextlib.suppress(Crash):
        await store.deliver(Q, crashes)
    assert store.stats(Q)["in_flight"] == 1


def state_of(pid: int) -> bytes:
    return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]


def lease_to(store: QueueStore, owner: str) -> None:
    store._conn.execute("UPDATE messages SET lease_owner = ?", (owner,))


async def test_a_zombie_holds_no_lease(tmp_path):
    child = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(child.pid, signal.SIGKILL)
        # not reaped: a zombie, which kill(pid, 0) still finds
        while state_of(child.pid) != b"Z":
            await asyncio.sleep(0.01)
        store = QueueStore(tmp_path / "q.sqlite", instance_id="first")
        await leased_by_a_crash(store)
        lease_to(store, f"{child.pid}:gone")
        assert store.release_dead_leases() == 1
        seen = []

        async def works(batch) -> None:
            seen.extend((m.body, m.attempts) for m in batch.messages)

        assert await store.deliver(Q, works) == 1 and seen == [({"n": 1}, 2)]
        store.close()
    finally:
        child.wait()


async def test_a_lease_runs_out_whatever_the_pid_says(tmp_path, clock):
    store = QueueStore(tmp_path / "q.sqlite", instance_id="first")
    await leased_by_a_crash(store)
    lease_to(store, f"{os.getppid()}:alive")  # a live process: the pid check keeps its lease
    assert store.release_dead_leases() == 0
    seen = []

    async def works(batch) -> None:
        seen.extend((m.body, m.attempts) for m in batch.messages)

    clock.advance(queues.VISIBILITY_TIMEOUT_SECONDS - 1)
    assert await store.deliver(Q, works) == 0 and store.stats(Q)["in_flight"] == 1
    clock.advance(1)
    assert store.stats(Q)["in_flight"] == 0 and store.stats(Q)["ready"] == 1
    assert await store.deliver(Q, works) == 1 and seen == [({"n": 1}, 2)]
    assert store.list(Q) == []
    store.close()


async def test_a_message_that_keeps_crashing_its_consumer_is_dead_lettered(tmp_path, clock):
    store = QueueStore(tmp_path / "q.sqlite", instance_id="first")
    await store.producer(Q).send({"poison": True})
    for _ in range(3):  # max_retries 2: three deliveries, each ends with the consumer gone
        with contextlib.suppress(Crash):
            await store.deliver(Q, crashes, max_retries=2, dead_letter_queue=DLQ)
        clock.advance(queues.VISIBILITY_TIMEOUT_SECONDS)
    assert await store.deliver(Q, crashes, max_retries=2, dead_letter_queue=DLQ) == 0
    [dead] = store.list(DLQ)
    assert dead["body"] == {"poison": True} and dead["attempts"] == 3 and not dead["in_flight"]
    assert "without an ack or a retry" in dead["last_error"]
    store.close()


async def test_a_consumer_past_its_budget_is_stopped_and_its_messages_retried(tmp_path):
    store = QueueStore(tmp_path / "q.sqlite", instance_id="first")
    await store.producer(Q).send_batch([{"n": 1}, {"n": 2}])
    never = asyncio.Event()

    async def hangs(batch) -> None:
        batch.messages[0].ack()
        await never.wait()

    assert await store.deliver(Q, hangs, budget=0.05) == 2
    [left] = store.list(Q)
    assert left["body"] == {"n": 2} and not left["in_flight"] and "budget" in left["last_error"]
    store.close()
