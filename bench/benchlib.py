# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the benchmark scripts share: running a playbook with per-task wall times, timing work
without Ansible, medians, and the Markdown tables the scripts print.

Importing it puts tests/harness, tests/integration and the collection root on sys.path, so a
script can then import the harness (hosts, sources), the integration helpers and the
collection's module_utils.
"""

import collections
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path[:0] = [os.path.join(REPO, 'tests', 'harness'), os.path.join(REPO, 'tests', 'integration')]

from runner import Ansible, collections_root  # noqa: E402

sys.path.insert(0, collections_root())

# One task result: its name, the host, whether it reported a change, and its wall time from the
# start of the task to its result (recorded by the test harness's airgap_results callback).
TaskTime = collections.namedtuple('TaskTime', 'task host changed seconds')


def localhost_play(tasks):
    """One play running tasks on the controller with this Python (modules that build caches)."""
    return [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
             'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': tasks}]


def hosts_play(tasks):
    """One play running tasks on every host of the inventory."""
    return [{'hosts': 'all', 'gather_facts': False, 'tasks': tasks}]


def run_playbook(playbook, inventory=None):
    """Run a playbook (a list of plays or a path) through the real CLI; returns its TaskTimes in order.

    Any failed task ends the benchmark with the failures and the end of Ansible's output.
    """
    if isinstance(playbook, str):
        run = Ansible(inventory=inventory).playbook(playbook)
    else:
        with tempfile.NamedTemporaryFile('w', suffix='.yml', prefix='bench-') as handle:
            json.dump(playbook, handle)
            handle.flush()
            run = Ansible(inventory=inventory).playbook(handle.name)
    failed = ['%s on %s: %s' % (t['task'], t['host'], str(t['result'].get('msg', ''))[:2000])
              for t in run.tasks if t['status'] not in ('ok', 'skipped')]
    if run.rc != 0 or failed or not run.tasks:
        raise SystemExit('playbook failed (rc %d):\n%s\n%s\n%s' % (run.rc, '\n'.join(failed), run.stdout[-3000:], run.stderr[-3000:]))
    return [TaskTime(t['task'], t['host'], bool(t['result'].get('changed')), t['seconds'])
            for t in run.tasks if t['status'] == 'ok']


def seconds_by_task(tasks, names=None):
    """Task name -> seconds of each run, in the order the names first appear (or the order given)."""
    runs = collections.OrderedDict((name, []) for name in names or [])
    for task in tasks:
        if names is None or task.task in runs:
            runs.setdefault(task.task, []).append(task.seconds)
    return runs


def medians(runs):
    """Name -> median of its runs, for a mapping name -> list of numbers."""
    return dict((name, statistics.median(values)) for name, values in runs.items())


def reports_changed(tasks, name):
    """'always', 'never' or 'sometimes': how the runs of one task reported their result."""
    changed = [task.changed for task in tasks if task.task == name]
    return 'always' if all(changed) else 'never' if not any(changed) else 'sometimes'


def markdown_table(headings, rows):
    """A Markdown table as text; the second column (the median) right-aligned."""
    align = '|---|---:|' + '---|' * (len(headings) - 2)
    lines = ['| %s |' % ' | '.join(str(cell) for cell in row) for row in rows]
    return '\n'.join(['| %s |' % ' | '.join(headings), align] + lines)


def print_task_table(tasks, names=None):
    """Print median seconds, all runs and 'reports changed' per task name; returns name -> median."""
    runs = seconds_by_task(tasks, names)
    median = medians(runs)
    rows = [(name, '%.3f' % median[name], ' '.join('%.2f' % v for v in values), reports_changed(tasks, name))
            for name, values in runs.items()]
    print(markdown_table(['task', 'median s', 'all runs (s)', 'reports changed'], rows))
    return median


def print_runs_table(heading, runs, unit='s', columns=None):
    """Print the median and every run per name, in seconds ('s', 3 decimals) or milliseconds ('ms', 1 decimal).

    columns: more columns, column heading -> (name -> cell).
    """
    scale, form = (1000.0, '%.1f') if unit == 'ms' else (1.0, '%.3f')
    columns = columns or {}
    rows = [[name, form % (scale * statistics.median(values)), ' '.join(form % (scale * v) for v in values)]
            + [cells[name] for cells in columns.values()] for name, values in runs.items()]
    print(markdown_table([heading, 'median %s' % unit, 'all runs (%s)' % unit] + list(columns), rows))


class Laps:
    """Wall times of work done without Ansible, collected per name in the order first timed."""

    def __init__(self):
        self.runs = collections.OrderedDict()

    def time(self, name, action):
        """Run action() once and record its wall time under name."""
        start = time.monotonic()
        action()
        self.runs.setdefault(name, []).append(time.monotonic() - start)


def time_command(argv, reps, env=None, cwd=None):
    """Seconds of each of reps runs of a command (argv, extra environment, working directory).

    time_commands_on_host sends this function's source to a host: it needs only os, subprocess and time.
    """
    values = []
    for _rep in range(reps):
        start = time.monotonic()
        subprocess.run(argv, env=dict(os.environ, **(env or {})), cwd=cwd, check=True, capture_output=True)
        values.append(time.monotonic() - start)
    return values


def time_commands_on_host(fleet, host, commands, reps):
    """time_command on an offline host, with the host's python3 and no Ansible.

    commands: name -> (argv, extra environment, working directory); returns name -> seconds of each run.
    """
    script = '\n'.join([
        'import json, os, subprocess, sys, time',
        inspect.getsource(time_command),
        'commands, reps = json.load(sys.stdin)',
        'print(json.dumps([[name, time_command(argv, reps, env, cwd)] for name, (argv, env, cwd) in commands]))',
    ])
    done = fleet.run(host, ['python3', '-c', script], input=json.dumps([list(commands.items()), reps]), timeout=900)
    if done.returncode != 0:
        raise SystemExit('timing on %s failed: %s' % (host, done.stderr[-3000:]))
    return collections.OrderedDict(json.loads(done.stdout))
