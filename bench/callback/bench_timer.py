# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only stdout callback: wall time of every task (start of task to its result), as one JSON line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: bench_timer
type: stdout
short_description: per-task wall times for the airgap.packages benchmarks
description: Prints one JSON document listing each task's name, status and seconds, for one host plays.
"""

import json
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'bench_timer'

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.started = None
        self.tasks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.started = time.monotonic()

    def _record(self, result, status):
        self.tasks.append({'task': result.task_name, 'status': status, 'seconds': time.monotonic() - self.started,
                           'changed': bool(result._result.get('changed')),
                           'changes': len(result._result.get('changes') or []),
                           'msg': str(result._result.get('msg', ''))[:2000] if status != 'ok' else ''})

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        self._display.display(json.dumps({'tasks': self.tasks}))
