# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pip_offline against ansible.builtin.pip and pip by hand, side by side in one run, on one offline host.

    .venv/bin/python bench/pip_offline.py [--reps 5]

Builds (once, from PyPI, kept in .cache/bench-pip-offline) a cache of a real set of about 20
wheels plus the pip and uv wheels, starts one offline host, ships the cache, then runs one
playbook that repeats, per round: five fresh virtualenvs made alike (pip from the cache in
each), a `ping` task (Ansible's fixed per-task cost), plain `pip install --no-index --find-links`
by hand (as a command task), pip_offline cold with installer=pip and installer=uv (bytecode
compilation on in all three), then converged no-ops of pip_offline and of ansible.builtin.pip
(extra_args --no-index --find-links); for reference also pip by hand with --no-compile and
pip_offline uv with compile_bytecode=false. Each task's wall time comes from the test harness's
callback (bench/benchlib.py); the figures are medians over the rounds, minus the median ping of
each round.
"""

import argparse
import collections
import os
import shutil
import statistics
import tempfile

import benchlib
from hosts import HostFleet
from pip_offline_support import build_cache, push_dir, tool_wheels

REQUIREMENTS = ['flask', 'requests', 'rich', 'pyyaml', 'python-dateutil', 'attrs']
WORK = os.path.join(benchlib.REPO, '.cache', 'bench-pip-offline')
REMOTE = '/srv/bench'
CACHE = REMOTE + '/cache'


def local_cache():
    cache = os.path.join(WORK, 'cache')
    if not os.path.exists(os.path.join(cache, 'manifest.json')):
        tools = tool_wheels(os.path.join(WORK, 'tools'))
        build_cache(cache, REQUIREMENTS, tools=[tools['pip'], tools['uv']], key='bench')
    return cache


def playbook(reps, pip_wheel):
    tasks = []
    for rep in range(reps):
        venvs = dict((kind, '%s/%s-%d' % (REMOTE, kind, rep)) for kind in ('plain', 'pip', 'uv', 'plain-nc', 'uv-nc'))
        for venv in venvs.values():
            # Each virtualenv made alike (a copy would keep script shebangs pointing at its original).
            tasks += [
                {'name': 'fresh virtualenv', 'ansible.builtin.command': {
                    'argv': ['python3', '-m', 'venv', '--without-pip', venv]}},
                {'name': 'pip in it', 'ansible.builtin.command': {
                    'argv': [venv + '/bin/python', '%s/%s/pip' % (CACHE, pip_wheel), 'install', '-q', '--no-index',
                             '%s/%s' % (CACHE, pip_wheel)]}},
            ]
        tasks += [
            {'name': 'ping', 'ansible.builtin.ping': {}},
            {'name': 'cold: pip by hand', 'ansible.builtin.command': {
                'argv': [venvs['plain'] + '/bin/python', '-m', 'pip', 'install', '-q', '--no-index', '--find-links', CACHE] + REQUIREMENTS}},
            {'name': 'cold: pip_offline pip', 'airgap.packages.pip_offline': {
                'cache': CACHE, 'virtualenv': venvs['pip'], 'installer': 'pip'}},
            {'name': 'cold: pip_offline uv', 'airgap.packages.pip_offline': {
                'cache': CACHE, 'virtualenv': venvs['uv'], 'installer': 'uv'}},
            {'name': 'cold, no bytecode: pip by hand', 'ansible.builtin.command': {
                'argv': [venvs['plain-nc'] + '/bin/python', '-m', 'pip', 'install', '-q', '--no-compile', '--no-index',
                         '--find-links', CACHE] + REQUIREMENTS}},
            {'name': 'cold, no bytecode: pip_offline uv', 'airgap.packages.pip_offline': {
                'cache': CACHE, 'virtualenv': venvs['uv-nc'], 'installer': 'uv', 'compile_bytecode': False}},
            {'name': 'ping', 'ansible.builtin.ping': {}},
            {'name': 'no-op: pip_offline', 'airgap.packages.pip_offline': {'cache': CACHE, 'virtualenv': venvs['pip']}},
            {'name': 'no-op: ansible.builtin.pip', 'ansible.builtin.pip': {
                'name': REQUIREMENTS, 'virtualenv': venvs['plain'], 'extra_args': '--no-index --find-links %s' % CACHE}},
            {'name': 'ping', 'ansible.builtin.ping': {}},
        ]
    return benchlib.hosts_play(tasks)


MEASURED = ['cold: pip by hand', 'cold: pip_offline pip', 'cold: pip_offline uv', 'cold, no bytecode: pip by hand',
            'cold, no bytecode: pip_offline uv', 'no-op: pip_offline', 'no-op: ansible.builtin.pip']


def beyond_ping(tasks, skip):
    """Task name -> per measured round, seconds beyond that round's median ping; 'ping' -> that ping itself.

    Pairing each task with the pings of its own round keeps the machine's load drift out of the ratios.
    """
    per_round = len(tasks) // len([t for t in tasks if t.task == 'cold: pip by hand'])
    runs = collections.OrderedDict((name, []) for name in ['ping'] + MEASURED)
    for start in range(skip * per_round, len(tasks), per_round):
        chunk = tasks[start:start + per_round]
        ping = statistics.median(t.seconds for t in chunk if t.task == 'ping')
        runs['ping'].append(ping)
        for task in chunk:
            if task.task in MEASURED:
                runs[task.task].append(task.seconds - ping)
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=5, help='measured rounds')
    parser.add_argument('--warmup', type=int, default=1, help='rounds run first and left out')
    args = parser.parse_args()
    cache = local_cache()
    wheels = sorted(f for f in os.listdir(cache) if f.endswith('.whl'))
    pip_wheel = [f for f in wheels if f.startswith('pip-')][0]
    state_dir = tempfile.mkdtemp(prefix='bench-pip-offline-')
    fleet = HostFleet(state_dir)
    try:
        fleet.start(1)
        host = fleet.names[0]
        push_dir(fleet, host, cache, CACHE)
        tasks = benchlib.run_playbook(playbook(args.warmup + args.reps, pip_wheel), fleet.inventory)
    finally:
        fleet.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    runs = beyond_ping(tasks, args.warmup)
    med = benchlib.medians(runs)
    print('%d wheels in the cache (%d installed per cold run, pip and uv wheels are tools); %d rounds after %d warm-up'
          % (len(wheels), len(wheels) - 2, args.reps, args.warmup))
    print()
    print(benchlib.markdown_table(
        ['task', 'median s beyond ping', 'per round (s)'],
        [('ping (fixed per-task cost, absolute)' if name == 'ping' else name, '%.3f' % med[name],
          ' '.join('%.3f' % v for v in values)) for name, values in runs.items()]))

    def ratio(numerator, denominator):
        return med[numerator] / max(med[denominator], 0.001)

    print()
    print('Ratios of the medians above:')
    print('- converged no-op, ansible.builtin.pip / pip_offline: %.1fx (target >= 10x)'
          % ratio('no-op: ansible.builtin.pip', 'no-op: pip_offline'))
    print('- cold install, pip_offline pip / pip by hand: %.2fx (target <= 1.1x)' % ratio('cold: pip_offline pip', 'cold: pip by hand'))
    print('- cold install, pip by hand / pip_offline uv: %.2fx faster (target >= 2.5x)' % ratio('cold: pip by hand', 'cold: pip_offline uv'))
    print('- for reference, without bytecode compilation: pip by hand / pip_offline uv: %.2fx faster'
          % ratio('cold, no bytecode: pip by hand', 'cold, no bytecode: pip_offline uv'))
    print('- bytecode compilation share of pip by hand: %.0f%%'
          % (100 * (1 - ratio('cold, no bytecode: pip by hand', 'cold: pip by hand'))))


if __name__ == '__main__':
    main()
