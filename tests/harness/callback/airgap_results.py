# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only stdout callback: every task result and the recap as one JSON document."""

DOCUMENTATION = """
name: airgap_results
type: stdout
short_description: JSON task results for the airgap.packages test suite
description: Prints one JSON document with every task result per host and the play recap.
"""

import json
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'airgap_results'

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.tasks = []
        self._task_started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.time()

    def _record(self, result, status):
        data = dict(result._result)
        self._clean_results(data, result._task.action)
        # ansible-core 2.19 keeps failure out of the result dict; tests read it from there.
        if status in ('failed', 'ignored'):
            data['failed'] = True
        elif status == 'unreachable':
            data['unreachable'] = True
        self.tasks.append({
            'task': result.task_name,
            'action': result._task.action,
            'host': result._host.get_name(),
            'status': status,
            'result': data,
            'seconds': round(time.time() - self._task_started.get(result._task._uuid, time.time()), 3),
        })

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_playbook_on_stats(self, stats):
        recap = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        self._display.display(json.dumps({'tasks': self.tasks, 'stats': recap}, default=str))
