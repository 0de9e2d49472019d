# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_cache against `gem install --install-dir DIR`, side by side in one run, on the controller.

    .venv/bin/python bench/gem_cache.py [--reps 5]

Serves the fixture gems (airgap_chain_a -> b -> c, airgap_native with a C extension,
airgap_twover 1.0.0 and 2.0.0) on loopback and asks both approaches for the same set:
airgap_chain_a, airgap_native, airgap_twover:1.0.0. One playbook on localhost repeats, per
round: a `ping` task (Ansible's fixed per-task cost), gem_cache's first build into an empty
dest and its no-op re-run, and the classic approach as command tasks: `gem install
--install-dir DIR` into an empty dir, the same command again, and again with
`--conservative`. Task wall times come from bench/callback/bench_timer.py; figures are
medians over the rounds. A second table times the same work without Ansible (gem_cache's
module_utils called in-process, the gem commands as processes) and counts the requests each
no-op makes to the gem source.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path[:0] = [os.path.join(REPO, 'tests', 'harness')]

from runner import ansible_env, collections_root  # noqa: E402
from sources import GemSource  # noqa: E402

sys.path.insert(0, collections_root())

from ansible_collections.airgap.packages.plugins.module_utils.gem_cache import (  # noqa: E402
    build_gem_caches, request_from_params)
from ansible_collections.airgap.packages.plugins.module_utils.gem_resolver import RubyGems  # noqa: E402

GEMS = ['airgap_chain_a', 'airgap_native', 'airgap_twover:1.0.0']
HOST_RUBY = {'version': '3.1.2', 'platform': 'x86_64-linux', 'rubygems_version': '3.3.15', 'key': 'ruby-3.1.0-x86_64-linux'}


def gem_install(url, directory, gemrc, conservative=False):
    argv = ['gem', 'install', '--install-dir', directory, '--no-document', '--clear-sources', '--source', url]
    return argv + (['--conservative'] if conservative else []) + GEMS, {'GEMRC': gemrc}


def playbook(url, work, gemrc, reps):
    tasks = []
    for rep in range(reps):
        dest, two, directory = ['%s/%s-%d' % (work, kind, rep) for kind in ('dest', 'dest2', 'installdir')]
        first, env = gem_install(url, directory, gemrc)
        conservative, _env = gem_install(url, directory, gemrc, conservative=True)
        tasks += [
            {'name': 'ping', 'ansible.builtin.ping': {}},
            {'name': 'first build: gem_cache (1 environment)',
             'airgap.packages.gem_cache': {'gems': GEMS, 'sources': [url], 'dest': dest}},
            {'name': 'no-op: gem_cache (1 environment)',
             'airgap.packages.gem_cache': {'gems': GEMS, 'sources': [url], 'dest': dest}},
            {'name': 'first build: gem_cache (2 environments)',
             'airgap.packages.gem_cache': {'gems': GEMS, 'sources': [url], 'dest': two, 'platforms': ['ruby', HOST_RUBY]}},
            {'name': 'no-op: gem_cache (2 environments)',
             'airgap.packages.gem_cache': {'gems': GEMS, 'sources': [url], 'dest': two, 'platforms': ['ruby', HOST_RUBY]}},
            {'name': 'first install: gem install --install-dir', 'ansible.builtin.command': {'argv': first}, 'environment': env},
            {'name': 'no-op: gem install --install-dir', 'ansible.builtin.command': {'argv': first}, 'environment': env},
            {'name': 'no-op: gem install --install-dir --conservative', 'ansible.builtin.command': {'argv': conservative},
             'environment': env},
        ]
    return [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
             'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': tasks}]


def run_playbook(book):
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        json.dump(book, handle)
    env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'bench_timer', 'ANSIBLE_CALLBACK_PLUGINS': os.path.join(BENCH, 'callback')})
    done = subprocess.run(['ansible-playbook', '-i', 'localhost,', handle.name], capture_output=True, text=True, env=env,
                          check=False)
    os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"tasks"')]
    if done.returncode != 0 or not lines:
        raise SystemExit('playbook failed (%d): %s %s' % (done.returncode, done.stdout[-4000:], done.stderr[-4000:]))
    return json.loads(lines[-1])['tasks']


def direct_timings(source, work, gemrc, reps):
    """The same work without Ansible: seconds per run and source requests per run."""
    ruby = shutil.which('ruby')
    out = dict((name, ([], [])) for name in (
        'gem_cache first build', 'gem_cache no-op', 'gem install --install-dir (first)', 'gem install --install-dir (again)',
        'gem install --install-dir --conservative (again)'))

    def timed(name, action):
        del source.requests[:]
        start = time.monotonic()
        action()
        out[name][0].append(time.monotonic() - start)
        out[name][1].append(len(source.requests))

    for rep in range(reps):
        request = request_from_params({'gems': GEMS, 'sources': [source.url], 'dest': '%s/direct-%d' % (work, rep),
                                       'platforms': ['ruby']})

        def build(request=request):
            return build_gem_caches(request, lambda: RubyGems(ruby, request.sources))

        timed('gem_cache first build', build)
        timed('gem_cache no-op', build)
        directory = '%s/direct-installdir-%d' % (work, rep)
        for name, conservative in (('gem install --install-dir (first)', False), ('gem install --install-dir (again)', False),
                                   ('gem install --install-dir --conservative (again)', True)):
            argv, env = gem_install(source.url, directory, gemrc, conservative)
            timed(name, lambda: subprocess.run(argv, env=dict(os.environ, **env), check=True, capture_output=True))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench-gem-cache-')
    gemrc = os.path.join(work, 'gemrc')
    with open(gemrc, 'w') as handle:
        handle.write('--- {}\n')
    source = GemSource(os.path.join(work, 'source')).build().start()
    try:
        tasks = run_playbook(playbook(source.url, work, gemrc, args.reps))
        direct = direct_timings(source, work, gemrc, args.reps)
    finally:
        source.stop()
        shutil.rmtree(work, ignore_errors=True)
    failed = [t for t in tasks if t['status'] != 'ok']
    if failed:
        raise SystemExit('tasks failed: %s' % failed)

    print('Same set for both: %s (5 gems, one with a C extension); %d rounds on the controller' % (', '.join(GEMS), args.reps))
    print()
    print('Through Ansible (task wall time, ping = fixed per-task cost):')
    print()
    print('| task | median s | all runs (s) | reports changed |')
    print('|---|---:|---|---|')
    names = []
    for task in tasks:
        if task['task'] not in names:
            names.append(task['task'])
    med = {}
    for name in names:
        values = [t['seconds'] for t in tasks if t['task'] == name]
        med[name] = statistics.median(values)
        changed = [t['changed'] for t in tasks if t['task'] == name]
        summary = 'always' if all(changed) else 'never' if not any(changed) else 'sometimes'
        print('| %s | %.3f | %s | %s |' % (name, med[name], ' '.join('%.2f' % v for v in values), summary))
    ping = med['ping']

    def ratio(slow, fast):
        return med[slow] / med[fast]

    print()
    print('Task wall time, Ansible overhead included (median ping %.3f s is the floor of any task):' % ping)
    print('- gem_cache no-op %.3f s vs its first build %.3f s: %.1fx faster'
          % (med['no-op: gem_cache (1 environment)'], med['first build: gem_cache (1 environment)'],
             ratio('first build: gem_cache (1 environment)', 'no-op: gem_cache (1 environment)')))
    print('- re-running gem install --install-dir %.3f s: %.1fx the gem_cache no-op; with --conservative %.3f s: %.1fx'
          % (med['no-op: gem install --install-dir'], ratio('no-op: gem install --install-dir', 'no-op: gem_cache (1 environment)'),
             med['no-op: gem install --install-dir --conservative'],
             ratio('no-op: gem install --install-dir --conservative', 'no-op: gem_cache (1 environment)')))
    print('- first build: gem_cache %.3f s (2 environments %.3f s) vs gem install --install-dir %.3f s (compiles the extension)'
          % (med['first build: gem_cache (1 environment)'], med['first build: gem_cache (2 environments)'],
             med['first install: gem install --install-dir']))
    print()
    print('Without Ansible (%d runs each; requests = HTTP requests to the gem source per run):' % args.reps)
    print()
    print('| work | median ms | all runs (ms) | requests |')
    print('|---|---:|---|---|')
    for name, (seconds, requests) in direct.items():
        runs = ' '.join('%.1f' % (1000 * v) for v in seconds)
        counts = '/'.join(str(r) for r in sorted(set(requests)))
        print('| %s | %.1f | %s | %s |' % (name, 1000 * statistics.median(seconds), runs, counts))
    noop = statistics.median(direct['gem_cache no-op'][0])
    print()
    print('- gem_cache no-op vs first build: %.0fx; vs gem install again: %.0fx; vs --conservative: %.0fx'
          % (statistics.median(direct['gem_cache first build'][0]) / noop,
             statistics.median(direct['gem install --install-dir (again)'][0]) / noop,
             statistics.median(direct['gem install --install-dir --conservative (again)'][0]) / noop))


if __name__ == '__main__':
    main()
