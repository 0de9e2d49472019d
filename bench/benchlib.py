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
import resource
import shlex
import signal
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


# --- Runs timed on an offline host, and CPU accounting on the controller --------------------------------

# Runs the argv it reads from stdin with the host's python3 and prints one JSON line: its wall time on the
# host, its exit status and its output. The time leaves out ssh and the interpreter's own start-up.
_TIMED_RUN = '\n'.join([
    'import json, subprocess, sys, time',
    'argv = json.load(sys.stdin)',
    'start = time.monotonic()',
    'done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)',
    'seconds = time.monotonic() - start',
    'print(json.dumps({"seconds": seconds, "rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}))',
])

# What a command timed on a host answered: seconds on the host, exit status, output (text).
HostRun = collections.namedtuple('HostRun', 'seconds returncode stdout stderr')


def _host_run(completed_rc, stdout, stderr, host):
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"seconds"'):
            data = json.loads(line)
            return HostRun(data['seconds'], data['rc'], data['stdout'], data['stderr'])
    raise SystemExit('timing on %s failed (ssh rc %d): %s' % (host, completed_rc, (stderr or stdout)[-3000:]))


def run_timed_on_host(fleet, host, argv, timeout=1800):
    """Run argv on an offline host and time it there; returns a HostRun (whatever argv's exit status)."""
    done = fleet.run(host, ['python3', '-c', _TIMED_RUN], input=json.dumps(argv), timeout=timeout)
    return _host_run(done.returncode, done.stdout, done.stderr, host)


class TimedHostRuns:
    """The same kind of run started on many hosts at once, each timed on its host, as boot scripts would run.

    Each ssh client's output goes to a file (no pipe can stall a run); wrap, when given, turns each ssh
    client's argv into the one started (CpuAccount.wrap puts it into an accounting group).
    """

    def __init__(self, fleet, workdir, wrap=None):
        self.fleet = fleet
        self.workdir = workdir
        self.wrap = wrap or (lambda argv: argv)
        self.started = []

    def start(self, host, argv):
        out_path = os.path.join(self.workdir, '%s-%d.out' % (host, len(self.started)))
        err_path = out_path[:-4] + '.err'
        with open(out_path, 'w') as out, open(err_path, 'w') as err:
            argv_ssh = self.fleet.ssh_argv(host) + ['--', shlex.join(['python3', '-c', _TIMED_RUN])]
            process = subprocess.Popen(self.wrap(argv_ssh), stdin=subprocess.PIPE, stdout=out, stderr=err, text=True)
        process.stdin.write(json.dumps(argv))
        process.stdin.close()
        self.started.append((host, process, out_path, err_path))

    def wait(self, timeout=3600):
        """host -> HostRun, once every run has ended."""
        deadline = time.monotonic() + timeout
        runs = collections.OrderedDict()
        for host, process, out_path, err_path in self.started:
            process.wait(timeout=max(1, deadline - time.monotonic()))
            with open(out_path) as out, open(err_path) as err:
                runs[host] = _host_run(process.returncode, out.read(), err.read(), host)
        self.started = []
        return runs


class CpuAccount:
    """CPU time of a group of processes and everything they start, even what outlives them.

    A cpuacct control group (cgroup v1, or a cgroup v2 directory) holds every process started through
    account.wrap(argv) (a shell that enters the group, then execs argv: no preexec_fn, which is unsafe
    with threads); its counters include processes that detached or exited (ssh's ControlPersist
    masters, for one). close() ends whatever is still in the group, by PID, and removes it.
    Without a writable cgroup hierarchy, usage() answers None and callers fall back to rusage.
    """

    ROOTS = ('/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/unified', '/sys/fs/cgroup')

    def __init__(self, name):
        self.path = None
        self.version = None
        for root in self.ROOTS:
            if os.path.exists(os.path.join(root, 'cpuacct.usage')) or os.path.exists(os.path.join(root, 'cgroup.procs')):
                path = os.path.join(root, 'airgap-bench-%s-%d' % (name, os.getpid()))
                try:
                    os.mkdir(path)
                except OSError:
                    continue
                self.path = path
                self.version = 1 if os.path.exists(os.path.join(path, 'cpuacct.usage')) else 2
                if self.version == 2 and not os.path.exists(os.path.join(path, 'cpu.stat')):
                    os.rmdir(path)
                    self.path = None
                    continue
                break

    def wrap(self, argv):
        """argv run inside the group from its first instruction (unchanged without a group)."""
        if not self.path:
            return list(argv)
        return ['sh', '-c', 'echo $$ > "$0" && exec "$@"', os.path.join(self.path, 'cgroup.procs')] + list(argv)

    def usage(self):
        """(user seconds, system seconds) of the group so far, or None."""
        if not self.path:
            return None
        if self.version == 1:
            def read(name):
                with open(os.path.join(self.path, name)) as handle:
                    return int(handle.read()) / 1e9
            return read('cpuacct.usage_user'), read('cpuacct.usage_sys')
        with open(os.path.join(self.path, 'cpu.stat')) as handle:
            stat = dict(line.split() for line in handle if line.strip())
        return int(stat['user_usec']) / 1e6, int(stat['system_usec']) / 1e6

    def pids(self):
        if not self.path:
            return []
        with open(os.path.join(self.path, 'cgroup.procs')) as handle:
            return [int(pid) for pid in handle.read().split()]

    def close(self):
        if not self.path:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        try:
            os.rmdir(self.path)
        except OSError:
            pass
        self.path = None


def children_cpu_seconds():
    """user + system seconds of this process's waited-for children so far (getrusage RUSAGE_CHILDREN)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds():
    """Busy CPU seconds of the whole machine so far, every process on every core (from /proc/stat)."""
    with open('/proc/stat') as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / float(os.sysconf('SC_CLK_TCK'))


def process_cpu_seconds(pid):
    """user + system seconds of one running process (all its threads), or None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))


def tree_bytes(path):
    """Total size of the regular files under path."""
    total = 0
    for directory, _dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(directory, name)
            if os.path.isfile(full) and not os.path.islink(full):
                total += os.path.getsize(full)
    return total


def busy_share(seconds=2.0):
    """The share of the machine's CPU (all cores) that was busy over the next few seconds, 0 to 1."""
    before, started = machine_cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (machine_cpu_seconds() - before) / ((time.monotonic() - started) * os.cpu_count())


def wait_for_quiet(threshold=0.15, patience=300):
    """Wait (up to patience seconds) until the machine's busy share drops below threshold; returns the last share seen.

    The benchmarks share the machine with whatever else runs on it: a round starts when that is quiet,
    or after patience, and the caller reports the share it started at.
    """
    deadline = time.monotonic() + patience
    share = busy_share()
    while share >= threshold and time.monotonic() < deadline:
        share = busy_share()
    return share
