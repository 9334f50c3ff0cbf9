# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Garbage collection held off ansible-playbook's inherited heap while one task runs in its forked worker."""

from __future__ import annotations

import contextlib
import gc

_OUT_OF_REACH = 1 << 30  # generation 1 collections before a full one: none while a task runs


@contextlib.contextmanager
def inherited_heap_frozen():
    """A forked worker's heap is the main process's: hundreds of thousands of objects this task never frees. Each
    full collection that the task's own allocations set off (the payload's module_utils parsed for their imports,
    a large result taken in, certificates described) would walk them all, 10-30 ms each. gc.freeze() moves them out
    of the collector's sight for the task; gc.unfreeze() puts them back after it, so a worker that outlives the task
    collects as before.

    A freeze alone still lets full collections come: CPython runs one when the objects that survived into the oldest
    generation since the last grow past a quarter of the long-lived ones it counted then (the main process's heap),
    and each walks whatever of the task's own is alive, then fewer objects set off the next. The payload's parsing
    keeps every module_util's AST alive while it runs: one full collection there took about 50 ms of a 1,000-file
    task. So the task also runs with the oldest generation's threshold out of reach: its young garbage is collected
    as usual, and what it left in the oldest generation is collected after it, under the thresholds it found."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], _OUT_OF_REACH)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
