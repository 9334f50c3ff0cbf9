"""The garbage collector while an action runs in its forked worker (plugin_utils/_worker_gc.py): no full collection
however much the task keeps alive, young garbage collected as usual, and the collector as it was after the task."""

from __future__ import annotations

import gc
import weakref

from ansible_collections.certops.backend_tls.plugins.plugin_utils._worker_gc import inherited_heap_frozen


class Node:
    """A cycle's member: only the collector frees it."""

    def __init__(self):
        self.other = None


def full_collections(work):
    """How many full (generation 2) collections CPython ran while work() ran."""
    started = []

    def watch(phase, info):
        if phase == "start" and info["generation"] == 2:
            started.append(info)

    gc.callbacks.append(watch)
    try:
        work()
    finally:
        gc.callbacks.remove(watch)
    return len(started)


def keep_alive(count=300000):
    """What parsing the payload's module_utils does to the collector: many container objects kept alive at once (an
    AST node each)."""
    kept = [[index] for index in range(count)]
    return len(kept)


def test_no_full_collection_while_a_task_keeps_much_alive():
    inherited = [[index] for index in range(300000)]  # the main process's heap, which the worker inherits
    gc.collect()
    assert full_collections(keep_alive) >= 1  # the collector as CPython runs it: the case this guards against

    def task():
        with inherited_heap_frozen():
            keep_alive()

    assert full_collections(task) == 0
    assert len(inherited) == 300000


def test_young_garbage_is_collected_during_the_task():
    with inherited_heap_frozen():
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        assert keep_alive(20000)  # enough for several young collections (700 new containers each)
        assert gone() is None


def test_the_collector_is_as_it_was_after_the_task_even_when_it_fails():
    before = gc.get_threshold()
    try:
        with inherited_heap_frozen():
            assert gc.get_threshold()[:2] == before[:2]
            assert gc.get_threshold()[2] > 1000000
            assert gc.get_freeze_count() > 0
            raise RuntimeError("the task failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
