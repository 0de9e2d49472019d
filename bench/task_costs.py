# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one more task costs per host in push mode, beside a one-ping playbook on the same offline hosts.

    .venv/bin/python bench/task_costs.py [--hosts 30] [--repeat 3]

Needs root (offline hosts). Forks equal to the host count. The playbooks, alternating within each round:

ping        one ping task;
skipped     the ping, then 10 tasks skipped by their condition (ansible.builtin.debug, when: false);
meta        the ping, then 10 meta tasks whose condition is false (ansible.builtin.meta end_role is what a settled
            host meets in the role; end_host is used here, outside a role);
host_state  host_state asked nothing and gather_ruby false, in place of the ping: what its payload and the Python
            facts cost beyond a ping's (a converged host of the role runs no Ruby either: see ProbeRecord).

For each: wall seconds, the controller's CPU seconds (a cpuacct group around ansible-playbook and everything it
starts), and the whole machine's busy CPU seconds (the controller, the hosts' sshd and modules: on this machine
they share the same cores). Medians over the rounds; then the cost of one skipped or meta task per host (the
difference to ping over 10), and host_state's beyond a ping.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib
from hosts import HostFleet
from runner import ansible_env

EXTRA_TASKS = 10


def playbooks(directory):
    ping = {'name': 'Ping', 'ansible.builtin.ping': {}}
    skipped = {'name': 'Skipped', 'ansible.builtin.debug': {'msg': 'never'}, 'when': False}
    meta = {'name': 'Meta', 'ansible.builtin.meta': 'end_host', 'when': False}
    plays = {
        'ping': [ping],
        'skipped': [ping] + [skipped] * EXTRA_TASKS,
        'meta': [ping] + [meta] * EXTRA_TASKS,
        'host_state': [{'name': 'Facts', 'airgap.packages.host_state': {'gather_ruby': False}}],
    }
    paths = {}
    for name, tasks in plays.items():
        paths[name] = os.path.join(directory, name + '.yml')
        with open(paths[name], 'w') as handle:
            json.dump([{'hosts': 'all', 'gather_facts': False, 'tasks': tasks}], handle)
    return paths


def run_measured(fleet, playbook, forks):
    account = benchlib.CpuAccount('task-costs')
    try:
        before, machine_before, started = account.usage(), benchlib.machine_cpu_seconds(), time.monotonic()
        completed = subprocess.run(account.wrap(['ansible-playbook', playbook, '-i', fleet.inventory]), capture_output=True,
                                   text=True, env=ansible_env({'ANSIBLE_FORKS': str(forks)}), check=False)
        seconds = time.monotonic() - started
        machine = benchlib.machine_cpu_seconds() - machine_before
        after = account.usage()
    finally:
        account.close()
    if completed.returncode != 0:
        raise SystemExit('%s failed: %s' % (playbook, completed.stdout[-2000:]))
    return {'wall': seconds, 'controller': sum(after) - sum(before), 'machine': machine}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--hosts', type=int, default=30)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='airgap-bench-task-costs-') as state:
        paths = playbooks(state)
        fleet = HostFleet(os.path.join(state, 'fleet'))
        fleet.start(args.hosts)
        try:
            rounds = dict((name, []) for name in paths)
            for _round in range(args.repeat):
                for name, path in paths.items():
                    benchlib.wait_for_quiet()
                    rounds[name].append(run_measured(fleet, path, args.hosts))
        finally:
            fleet.stop()
    figures = dict((name, dict((key, statistics.median(r[key] for r in runs)) for key in runs[0])) for name, runs in rounds.items())
    print('%d offline hosts, forks %d, nproc %d; medians of %d rounds.' % (args.hosts, args.hosts, os.cpu_count(), args.repeat))
    print()
    print(benchlib.markdown_table(['playbook', 'wall s', 'controller CPU s', 'machine CPU s'],
                                  [[name, '%.2f' % f['wall'], '%.2f' % f['controller'], '%.2f' % f['machine']]
                                   for name, f in figures.items()]))
    print()
    rows = []
    for name, label, divisor in (('skipped', 'one skipped task, for all hosts', EXTRA_TASKS),
                                 ('meta', 'one meta task with a false condition, for all hosts', EXTRA_TASKS),
                                 ('host_state', 'host_state (Python facts only) in place of ping', 1)):
        rows.append([label] + ['%.3f' % ((figures[name][key] - figures['ping'][key]) / divisor)
                               for key in ('wall', 'controller', 'machine')])
    print(benchlib.markdown_table(['beyond the ping playbook', 'wall s', 'controller CPU s', 'machine CPU s'], rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
