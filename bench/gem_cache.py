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
`--conservative`. Task wall times come from the test harness's callback (bench/benchlib.py);
figures are medians over the rounds. A second table times the same work without Ansible (gem_cache's
module_utils called in-process, the gem commands as processes) and counts the requests each
no-op makes to the gem source.
"""

import argparse
import os
import shutil
import subprocess
import tempfile

import benchlib
from sources import GemSource
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_cache import build_gem_caches, request_from_params
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_resolver import RubyGems

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
    return benchlib.localhost_play(tasks)


def direct_timings(source, work, gemrc, reps):
    """The same work without Ansible: name -> seconds per run, and name -> requests to the gem source per run."""
    ruby = shutil.which('ruby')
    laps = benchlib.Laps()
    requests = {}

    def timed(name, action):
        del source.requests[:]
        laps.time(name, action)
        requests.setdefault(name, []).append(len(source.requests))

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
    return laps.runs, requests


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
        tasks = benchlib.run_playbook(playbook(source.url, work, gemrc, args.reps))
        direct, requests = direct_timings(source, work, gemrc, args.reps)
    finally:
        source.stop()
        shutil.rmtree(work, ignore_errors=True)

    print('Same set for both: %s (5 gems, one with a C extension); %d rounds on the controller' % (', '.join(GEMS), args.reps))
    print()
    print('Through Ansible (task wall time, ping = fixed per-task cost):')
    print()
    med = benchlib.print_task_table(tasks)
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
    counts = dict((name, '/'.join(str(r) for r in sorted(set(values)))) for name, values in requests.items())
    benchlib.print_runs_table('work', direct, unit='ms', columns={'requests': counts})
    direct_med = benchlib.medians(direct)
    noop = direct_med['gem_cache no-op']
    print()
    print('- gem_cache no-op vs first build: %.0fx; vs gem install again: %.0fx; vs --conservative: %.0fx'
          % (direct_med['gem_cache first build'] / noop, direct_med['gem install --install-dir (again)'] / noop,
             direct_med['gem install --install-dir --conservative (again)'] / noop))


if __name__ == '__main__':
    main()
