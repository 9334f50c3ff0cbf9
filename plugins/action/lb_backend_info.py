# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_backend_info runs as a module, as any other (the documentation is in plugins/modules/lb_backend_info.py); this
action only keeps garbage collection off ansible-playbook's inherited heap while its worker builds the module's
payload and takes in its result (plugins/plugin_utils/_worker_gc.py): about 50 ms of a 200-backend run."""

from __future__ import annotations

from ansible.plugins.action.normal import ActionModule as ModuleAction

from ansible_collections.certops.backend_tls.plugins.plugin_utils._worker_gc import inherited_heap_frozen


class ActionModule(ModuleAction):

    def run(self, tmp=None, task_vars=None):
        with inherited_heap_frozen():
            return super().run(tmp, task_vars)
