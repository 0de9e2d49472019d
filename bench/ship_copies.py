# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one controller pays to ship the same cache to many hosts, under two ssh_args settings.

    .venv/bin/python bench/ship_copies.py [--hosts 30] [--repeat 2]

Needs root (offline hosts) and PyPI. Builds one wheel cache of numpy, pandas and scipy (about 75 MB)
for the hosts' key once, then for each round and each ssh setting, on hosts that hold nothing:

ship       the role's build and ship steps (tasks_from: build, then ship): host_state, the current-cache
           check, and ship_cache to every host at once (forks = hosts);
settled    the same again: every host is settled, nothing is sent (the fixed cost of the run).

ssh settings: Ansible's default `ssh_args` (`-C -o ControlMaster=auto -o ControlPersist=60s`: compression
on for every command), and the same without `-C`. ship_cache sends its archive without ssh compression
whatever ssh_args say, so the two agree unless that breaks; before it did, the default cost the controller
about nine times the CPU per copy (docs/benchmarks.md has both runs). The ship's own cost is the difference between the two runs, in wall time
and in the controller's CPU seconds (a cpuacct group around ansible-playbook and the ssh processes it
starts, ControlPersist masters included, which are ended after each run so that no setting reuses
another's connection). Prints Markdown tables.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time

import benchlib
import scale
from hosts import HostFleet

REQUIREMENTS = ['numpy==2.1.3', 'pandas==2.2.3', 'scipy==1.14.1']
STAGE_DIR = '/var/lib/airgap-bench'
DEFAULT_SSH_ARGS = '-C -o ControlMaster=auto -o ControlPersist=60s'
SETTINGS = [('Ansible default (-C -o ControlMaster=auto -o ControlPersist=60s)', DEFAULT_SSH_ARGS),
            ('without -C (-o ControlMaster=auto -o ControlPersist=60s)', '-o ControlMaster=auto -o ControlPersist=60s')]


def ship_playbook(path):
    plays = [{'name': 'Build and ship', 'hosts': 'offline', 'gather_facts': False, 'tasks': [
        {'name': 'Build', 'ansible.builtin.include_role': {'name': 'airgap.packages.offline_install', 'tasks_from': 'build'}},
        {'name': 'Ship', 'ansible.builtin.include_role': {'name': 'airgap.packages.offline_install', 'tasks_from': 'ship'}},
    ]}]
    with open(path, 'w') as handle:
        json.dump(plays, handle)
    return path


def run_measured(fleet, playbook, role_vars, ssh_args, forks):
    """(PlaybookRun, wall s, controller CPU s) of the playbook with these ssh_args."""
    run, seconds, cpu, _peak = scale.run_measured(fleet, playbook, role_vars, forks, env={'ANSIBLE_SSH_ARGS': ssh_args})
    return run, seconds, cpu


def shipped(run):
    return [t for t in run.tasks if t['action'] == 'airgap.packages.ship_cache' and t['result'].get('shipped')]


def ship_task_wall(run):
    return max([t['seconds'] for t in run.tasks if t['action'] == 'airgap.packages.ship_cache'] or [0.0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--hosts', type=int, default=30)
    parser.add_argument('--repeat', type=int, default=2)
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='airgap-bench-ship-') as state:
        playbook = ship_playbook(os.path.join(state, 'ship.yml'))
        role_vars = {'offline_install_python': [{'venv': '/opt/bench-ship/venv', 'requirements': REQUIREMENTS}],
                     'offline_install_stage_dir': STAGE_DIR,
                     'offline_install_cache_dir': os.path.join(state, 'caches')}
        fleet = HostFleet(os.path.join(state, 'fleet'))
        fleet.start(args.hosts)
        try:
            run, _seconds, _cpu = run_measured(fleet, playbook, role_vars, DEFAULT_SSH_ARGS, args.hosts)
            cache_bytes = [t['result']['archive_bytes'] for t in shipped(run)][0]
            rows = dict((label, []) for label, _ssh_args in SETTINGS)
            for _round in range(args.repeat):
                for label, ssh_args in SETTINGS:
                    for name in fleet.names:
                        fleet.run(name, ['rm', '-rf', STAGE_DIR], check=True)
                    benchlib.wait_for_quiet()
                    first, first_seconds, first_cpu = run_measured(fleet, playbook, role_vars, ssh_args, args.hosts)
                    if len(shipped(first)) != args.hosts:
                        raise SystemExit('%s: %d of %d hosts were shipped the cache' % (label, len(shipped(first)), args.hosts))
                    benchlib.wait_for_quiet()
                    settled, settled_seconds, settled_cpu = run_measured(fleet, playbook, role_vars, ssh_args, args.hosts)
                    if shipped(settled):
                        raise SystemExit('%s: the settled run shipped again' % label)
                    rows[label].append({'wall': first_seconds, 'cpu': first_cpu, 'ship_wall': ship_task_wall(first),
                                        'settled_wall': settled_seconds, 'settled_cpu': settled_cpu,
                                        'sent': sum(t['result']['transferred_bytes'] for t in shipped(first))})
        finally:
            fleet.stop()
    print('Run %s: nproc %d; %d hosts, forks %d; cache %s: %d bytes; medians of %d rounds, the settings alternating.'
          % (datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), os.cpu_count(), args.hosts, args.hosts,
             ' '.join(REQUIREMENTS), cache_bytes, args.repeat))
    print()
    table = []
    for label, measured in rows.items():
        def median(key):
            return statistics.median(m[key] for m in measured)
        ship_cpu = median('cpu') - median('settled_cpu')
        table.append([label, '%.1f' % median('wall'), '%.1f' % median('ship_wall'), '%.1f' % median('settled_wall'),
                      '%.1f' % median('cpu'), '%.1f' % median('settled_cpu'), '%.1f' % ship_cpu,
                      '%.2f' % (ship_cpu / args.hosts), '%d' % median('sent'),
                      ' '.join('%.1f/%.1f' % (m['wall'], m['cpu']) for m in measured)])
    print(benchlib.markdown_table(
        ['ssh_args', 'shipping run wall s', 'ship task wall s', 'settled run wall s', 'shipping run controller CPU s',
         'settled run controller CPU s', 'ship controller CPU s', 'per host copy', 'bytes sent', 'rounds (wall/CPU)'], table))
    print()
    print('The script took %.1f min.' % ((time.monotonic() - began) / 60))
    return 0


if __name__ == '__main__':
    sys.exit(main())
