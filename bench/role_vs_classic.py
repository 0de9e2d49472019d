# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""offline_install against the classic copy + pip + gem playbook, on 1 and 10 offline hosts, side by side.

    .venv/bin/python bench/role_vs_classic.py [--hosts 1 10] [--repeat 3]

Each approach gets fresh hosts. The caches are built once beforehand (on the controller, from
PyPI and the local fixture gem source) and the classic playbook copies the very same files, so
both first runs start from the same artifacts. Prints a Markdown table of median seconds.
"""

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'harness'))

from hosts import HostFleet  # noqa: E402
from runner import REPO, Ansible  # noqa: E402
from sources import GemSource  # noqa: E402

SITE = os.path.join(REPO, 'playbooks', 'site.yml')
CLASSIC = os.path.join(HERE, 'classic_install.yml')
PING = os.path.join(HERE, 'ping.yml')
REQUIREMENTS = ['requests==2.32.3', 'PyYAML==6.0.2', 'MarkupSafe==3.0.2']
GEMS = ['airgap_chain_a', 'airgap_native', 'airgap_twover']


def timed(ansible, playbook, extra):
    started = time.time()
    run = ansible.playbook(playbook, extra_vars=extra)
    elapsed = time.time() - started
    if run.rc != 0:
        raise SystemExit('%s failed:\n%r' % (os.path.basename(playbook), run))
    return elapsed, run


def measure(count, state, role_vars, classic_vars, repeat):
    """Seconds for: role first run, role no-op, classic first run, classic no-op, ping."""
    figures = dict((name, []) for name in ('role_first', 'role_noop', 'classic_first', 'classic_noop', 'ping'))
    for attempt in range(repeat):
        for approach, playbook, extra in (('role', SITE, role_vars), ('classic', CLASSIC, classic_vars)):
            fleet = HostFleet(os.path.join(state, '%s-%d-%d' % (approach, count, attempt)))
            fleet.start(count)
            try:
                ansible = Ansible(inventory=fleet.inventory, env={'ANSIBLE_FORKS': str(max(count, 5))})
                first, _run = timed(ansible, playbook, extra)
                noop, run = timed(ansible, playbook, extra)
                if approach == 'role' and run.total('changed'):
                    raise SystemExit('the role changed something on its second run: %r' % run.stats)
                figures['%s_first' % approach].append(first)
                figures['%s_noop' % approach].append(noop)
                if approach == 'role':
                    figures['ping'].append(timed(ansible, PING, {})[0])
            finally:
                fleet.stop()
    return dict((name, statistics.median(values)) for name, values in figures.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--hosts', type=int, nargs='+', default=[1, 10])
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='airgap-bench-') as state:
        gems = GemSource(os.path.join(state, 'gem-source')).build().start()
        try:
            role_vars = {
                'offline_install_python': [{'venv': '/opt/bench/venv', 'requirements': REQUIREMENTS}],
                'offline_install_gems': GEMS,
                'offline_install_gem_sources': [gems.url],
                'offline_install_gem_install_dir': '/opt/bench/gems',
                'offline_install_cache_dir': os.path.join(state, 'caches'),
                'offline_install_summary': False,
            }
            warm = HostFleet(os.path.join(state, 'warm'))
            warm.start(1)
            try:
                timed(Ansible(inventory=warm.inventory), SITE, role_vars)
            finally:
                warm.stop()
            wheel_dir = glob.glob(os.path.join(state, 'caches', 'python', '*', 'manifest.json'))[0]
            gem_dir = glob.glob(os.path.join(state, 'caches', 'ruby', '*', 'manifest.json'))[0]
            classic_vars = {'classic_wheel_dir': os.path.dirname(wheel_dir), 'classic_gem_dir': os.path.dirname(gem_dir),
                            'classic_requirements': REQUIREMENTS, 'classic_gems': GEMS}
            files = len(os.listdir(os.path.dirname(wheel_dir))) + len(os.listdir(os.path.dirname(gem_dir)))
            print('Python set: %s; gems: %s; %d files in the caches' % (', '.join(REQUIREMENTS), ', '.join(GEMS), files))
            print()
            print('| hosts | role first run | classic first run | role no-op | classic no-op | ping | classic no-op / role no-op '
                  '| role no-op / ping |')
            print('|---|---|---|---|---|---|---|---|')
            for count in args.hosts:
                f = measure(count, state, role_vars, classic_vars, args.repeat)
                print('| %d | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s | %.1f× | %.2f× |' % (
                    count, f['role_first'], f['classic_first'], f['role_noop'], f['classic_noop'], f['ping'],
                    f['classic_noop'] / f['role_noop'], f['role_noop'] / f['ping']))
        finally:
            gems.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
