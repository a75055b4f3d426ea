"""serve's chat calls run in worker threads, at most ``max_concurrent_calls`` at once.

The allowance is what the load test compares with the chat library's own thread pool, so
it must hold exactly: never more calls at once, every call answered, and a cancelled
request (the browser went away) waits for its call to end instead of abandoning it.
"""

from __future__ import annotations

import asyncio

from qbizfed.web.routes_chat import _blocking
from tests.support.calls_at_once import CallsAtOnce


class Recorder(CallsAtOnce):
    """A blocking call that records how many of its kind run at once."""

    def call(self, number: int, seconds: float = 0.05) -> int:
        self.hold(seconds)
        return number


def test_no_more_calls_at_once_than_the_allowance_and_every_call_is_answered() -> None:
    recorder = Recorder()

    async def main() -> list[int]:
        return await asyncio.gather(*(_blocking(recorder.call, n, allowance=3) for n in range(12)))

    assert asyncio.run(main()) == list(range(12))
    assert recorder.most == 3
    assert recorder.finished == 12


def test_a_changed_allowance_applies_to_the_next_calls() -> None:
    recorder = Recorder()

    async def main() -> None:
        await asyncio.gather(*(_blocking(recorder.call, n, allowance=2) for n in range(6)))
        assert recorder.most == 2
        recorder.most = 0
        await asyncio.gather(*(_blocking(recorder.call, n, allowance=5) for n in range(10)))

    asyncio.run(main())
    assert recorder.most == 5


def test_a_cancelled_request_waits_for_its_call_to_end() -> None:
    recorder = Recorder()

    async def main() -> None:
        task = asyncio.create_task(_blocking(recorder.call, 1, 0.3, allowance=2))
        await asyncio.sleep(0.05)  # the call is running in its thread
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:  # pragma: no cover - the test fails below
            raise AssertionError("the cancellation was lost")
        # cancellation reached the request only once its call had ended
        assert recorder.finished == 1
        assert recorder.now == 0

    asyncio.run(main())
