# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Garbage collection held off ansible-playbook's inherited heap while one task runs in its forked worker."""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def inherited_heap_frozen():
    """A forked worker's heap is the main process's: hundreds of thousands of objects this task never frees. Each
    full collection that the task's own allocations set off (the payload's module_utils parsed for their imports,
    a large result taken in, certificates described) would walk them all, 10-30 ms each. gc.freeze() moves them out
    of the collector's sight for the task; gc.unfreeze() puts them back after it, so a worker that outlives the task
    collects as before. The task's own garbage is collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
