"""The idle collector: collects and freezes once analyses stop, never in between."""

from __future__ import annotations

import asyncio
import gc
import weakref

from lensflow.idle_gc import IdleCollector


class Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_freezes_when_quiet_and_still_collects_cycles_made_since() -> None:
    collector = IdleCollector(idle_s=0.2)
    gc.unfreeze()
    try:
        for _ in range(4):  # pokes closer together than idle_s: nothing runs meanwhile
            collector.poke()
            await asyncio.sleep(0.1)
        assert collector.settled == 0 and gc.get_freeze_count() == 0
        await asyncio.sleep(0.3)
        assert collector.settled == 1
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the test process's long-lived objects, skipped from now on

        # A cycle dropped after the freeze: refcounting cannot free it; the next quiet
        # moment's collection does, and the objects alive then are frozen with the rest
        gc.disable()  # no automatic collection may take it first
        garbage = Cycle()
        gone = weakref.ref(garbage)
        del garbage
        assert gone() is not None
        collector.poke()
        await asyncio.sleep(0.35)
        assert collector.settled == 2 and gone() is None
        assert gc.get_freeze_count() >= frozen - 100
    finally:
        gc.enable()
        collector.close()
        gc.unfreeze()


def test_a_plain_call_schedules_nothing() -> None:
    collector = IdleCollector(idle_s=0.01)
    collector.poke()  # no running loop: no error, no collection
    assert collector.settled == 0
