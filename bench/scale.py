# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push mode as the fleet grows: site.yml on 1, 10, 30 and 100 offline hosts, beside a one-ping playbook.

    .venv/bin/python bench/scale.py [--hosts 1 10 30 100] [--repeat 3]

Needs root (offline hosts) and PyPI. The wheel and gem caches are built once beforehand (PyPI and the
local fixture gem source), so every first run starts from the same artifacts. For each host count, on
fresh hosts, with forks equal to the host count:

first      site.yml on hosts that hold nothing;
converged  site.yml again, alternating with the ping playbook, --repeat times each (medians);
drift      a tenth of the hosts (at least one) lose a package's files; site.yml repairs them;
new cache  one more requirement: the controller builds the new cache, and every host gets it.

For each: wall seconds, the controller's CPU seconds (a cpuacct group around ansible-playbook and
everything it starts), its peak memory (the largest sum of the group's proportional set sizes,
sampled every 0.2 s), the bytes ship_cache sent, and the hosts that changed. Prints Markdown tables.
"""

import argparse
import json
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib
from hosts import HostFleet
from runner import RESULTS_CALLBACK, ansible_env, results_document, PlaybookRun
from sources import GemSource

SITE = os.path.join(benchlib.REPO, 'playbooks', 'site.yml')
PING = os.path.join(benchlib.BENCH, 'ping.yml')
REQUIREMENTS = ['requests==2.32.3', 'PyYAML==6.0.2', 'MarkupSafe==3.0.2']
NEW_REQUIREMENT = 'six==1.17.0'
GEMS = ['airgap_chain_a', 'airgap_native', 'airgap_twover']
VENV = '/opt/bench-scale/venv'
GEM_HOME = '/opt/bench-scale/gems'
# The package a drifted host loses the files of (its dist-info stays: drift the plan must see).
DRIFTED_PACKAGE_DIR = 'markupsafe'


class MemorySampler(threading.Thread):
    """The peak of the summed proportional set size (Pss) of the processes in a CpuAccount group."""

    def __init__(self, account, interval=0.2):
        super().__init__(daemon=True)
        self.account = account
        self.interval = interval
        self.peak = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            total = 0
            for pid in self.account.pids():
                try:
                    with open('/proc/%d/smaps_rollup' % pid) as handle:
                        total += sum(int(line.split()[1]) * 1024 for line in handle if line.startswith('Pss:'))
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            self.halt.wait(self.interval)


def run_measured(fleet, playbook, extra_vars, forks, env=None):
    """Run a playbook on the fleet (with env added to Ansible's); returns (PlaybookRun, wall s, controller CPU s,
    peak bytes). The group's processes, ssh's ControlPersist masters included, are ended before it returns."""
    account = benchlib.CpuAccount('scale')
    sampler = MemorySampler(account)
    argv = ['ansible-playbook', playbook, '-i', fleet.inventory]
    if extra_vars:
        argv += ['-e', json.dumps(extra_vars)]
    env = ansible_env(dict(env or {}, ANSIBLE_FORKS=str(forks), **RESULTS_CALLBACK))
    try:
        before = account.usage()
        sampler.start()
        started = time.monotonic()
        completed = subprocess.run(account.wrap(argv), capture_output=True, text=True, env=env, check=False)
        seconds = time.monotonic() - started
        sampler.halt.set()
        sampler.join()
        after = account.usage()
    finally:
        account.close()
    run = PlaybookRun(completed, results_document(completed.stdout))
    if run.rc != 0:
        raise SystemExit('%s failed: %r' % (os.path.basename(playbook), run))
    cpu = sum(after) - sum(before) if after and before else float('nan')
    return run, seconds, cpu, sampler.peak


def changed_hosts(run):
    return sorted(name for name, counts in run.stats.items() if counts.get('changed'))


def sent_bytes(run):
    return sum(t['result'].get('transferred_bytes', 0) for t in run.tasks if t['action'] == 'airgap.packages.ship_cache')


def task_walls(run):
    """{task name: seconds from its start to its last host's result}, in the order the tasks ran."""
    walls = {}
    for task in run.tasks:
        walls[task['task']] = max(walls.get(task['task'], 0.0), task['seconds'])
    return walls


def figures_of(run, seconds, cpu, peak):
    return {'seconds': seconds, 'cpu': cpu, 'peak': peak, 'sent': sent_bytes(run), 'changed': len(changed_hosts(run))}


def measure(count, state, role_vars, repeat):
    fleet = HostFleet(os.path.join(state, 'fleet-%d' % count))
    fleet.start(count)
    try:
        result = {}
        benchlib.wait_for_quiet()
        run, *measured = run_measured(fleet, SITE, role_vars, count)
        if changed_hosts(run) != sorted(fleet.names):
            raise SystemExit('the first run left hosts unchanged: %r' % run.stats)
        result['first'] = figures_of(run, *measured)
        converged, ping, walls = [], [], []
        for _attempt in range(repeat):
            benchlib.wait_for_quiet()
            run, *measured = run_measured(fleet, SITE, role_vars, count)
            if run.total('changed'):
                raise SystemExit('a converged run changed something: %r' % run.stats)
            converged.append(figures_of(run, *measured))
            walls.append(task_walls(run))
            benchlib.wait_for_quiet()
            run, *measured = run_measured(fleet, PING, {}, count)
            ping.append(figures_of(run, *measured))
        result['converged'] = dict((key, statistics.median(f[key] for f in converged)) for key in converged[0])
        result['ping'] = dict((key, statistics.median(f[key] for f in ping)) for key in ping[0])
        result['tasks'] = dict((name, statistics.median(w.get(name, 0.0) for w in walls)) for name in walls[0])
        drifted = fleet.names[::10]
        for name in drifted:
            fleet.run(name, ['sh', '-c', 'rm -r %s/lib/python3*/site-packages/%s' % (VENV, DRIFTED_PACKAGE_DIR)], check=True)
        benchlib.wait_for_quiet()
        run, *measured = run_measured(fleet, SITE, role_vars, count)
        if changed_hosts(run) != sorted(drifted):
            raise SystemExit('the drift run changed %r, not the drifted %r' % (changed_hosts(run), drifted))
        result['drift'] = figures_of(run, *measured)
        result['drifted'] = len(drifted)
        grown = dict(role_vars, offline_install_python=[{'venv': VENV, 'requirements': REQUIREMENTS + [NEW_REQUIREMENT]}])
        benchlib.wait_for_quiet()
        run, *measured = run_measured(fleet, SITE, grown, count)
        if changed_hosts(run) != sorted(fleet.names):
            raise SystemExit('the new cache did not reach every host: %r' % run.stats)
        result['new_cache'] = figures_of(run, *measured)
        return result
    finally:
        fleet.stop()


def mib(value):
    return '%.0f' % (value / 2 ** 20)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--hosts', type=int, nargs='+', default=[1, 10, 30, 100])
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='airgap-bench-scale-') as state:
        gems = GemSource(os.path.join(state, 'gem-source')).build().start()
        try:
            role_vars = {
                'offline_install_python': [{'venv': VENV, 'requirements': REQUIREMENTS}],
                'offline_install_gems': GEMS,
                'offline_install_gem_sources': [gems.url],
                'offline_install_gem_install_dir': GEM_HOME,
                'offline_install_cache_dir': os.path.join(state, 'caches'),
                'offline_install_summary': False,
            }
            # Build the caches once (and the new cache's requirement is not built yet: that run builds it).
            warm = HostFleet(os.path.join(state, 'warm'))
            warm.start(1)
            try:
                run_measured(warm, SITE, role_vars, 1)
            finally:
                warm.stop()
            results = dict((count, measure(count, state, role_vars, args.repeat)) for count in args.hosts)
        finally:
            gems.stop()
    print('Run %s: nproc %d; Python set %s (+ %s for the new cache); gems %s; medians of %d for converged and ping.'
          % (datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), os.cpu_count(), ' '.join(REQUIREMENTS), NEW_REQUIREMENT,
             ' '.join(GEMS), args.repeat))
    print()
    rows = []
    for count, result in results.items():
        converged, ping = result['converged'], result['ping']
        rows.append([str(count), '%.1f' % converged['seconds'], '%.1f' % ping['seconds'],
                     '%.2fx' % (converged['seconds'] / ping['seconds']),
                     '%.2f / %.2f' % (converged['cpu'] / count, ping['cpu'] / count),
                     '%.2fx' % (converged['cpu'] / ping['cpu']), '%s / %s' % (mib(converged['peak']), mib(ping['peak'])),
                     str(converged['sent']), str(converged['changed'])])
    print('### Converged run against a one-ping playbook')
    print()
    print(benchlib.markdown_table(['hosts', 'converged s', 'ping s', 'ratio', 'controller CPU s per host (role / ping)',
                                   'CPU ratio', 'controller peak MiB (role / ping)', 'bytes sent', 'hosts changed'], rows))
    print()
    rows = []
    for count, result in results.items():
        for label, key in (('first run', 'first'), ('converged', 'converged'), ('drift (%d hosts)' % result['drifted'], 'drift'),
                           ('new cache for all', 'new_cache')):
            f = result[key]
            rows.append([str(count), label, '%.1f' % f['seconds'], '%.1f' % f['cpu'], mib(f['peak']), str(f['sent']),
                         str(f['changed'])])
    print('### Every kind of run, by host count')
    print()
    print(benchlib.markdown_table(['hosts', 'run', 'wall s', 'controller CPU s', 'controller peak MiB', 'bytes sent',
                                   'hosts changed'], rows))
    print()
    for count, result in results.items():
        total = result['converged']['seconds']
        rows = [[name, '%.2f' % seconds, '%.0f%%' % (100 * seconds / total)] for name, seconds in result['tasks'].items()]
        rest = total - sum(result['tasks'].values())
        rows.append(['ansible-playbook itself (start, inventory, play, recap)', '%.2f' % rest, '%.0f%%' % (100 * rest / total)])
        print('### Where the converged run goes, %d hosts (%.1f s; the ping playbook %.1f s)'
              % (count, total, result['ping']['seconds']))
        print()
        print(benchlib.markdown_table(['task', 'wall s (start to last host)', 'share'], rows))
        print()
    print('The script took %.1f min.' % ((time.monotonic() - began) / 60))
    return 0


if __name__ == '__main__':
    sys.exit(main())
