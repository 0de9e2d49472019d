# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_cache on the controller against the local fixture gem source: closure, idempotency without
the network, minimal changes, atomicity and errors that name the culprit."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runner import Ansible, ansible_env, local_task_both_ways

from ansible_collections.airgap.packages.plugins.module_utils._controller.cache_dir import WORKSPACE_PREFIX
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import load_manifest, sha256_file

pytestmark = pytest.mark.integration

MODULE = 'airgap.packages.gem_cache'
CHAIN = ['airgap_chain_a-1.0.0.gem', 'airgap_chain_b-1.1.0.gem', 'airgap_chain_c-0.5.0.gem']
THREE = ['airgap_chain_a', 'airgap_native', 'airgap_twover:1.0.0']
THREE_FILES = CHAIN + ['airgap_native-1.0.0.gem', 'airgap_twover-1.0.0.gem']
# What platform_facts reports for a Debian 12 host (its ruby dict).
HOST_RUBY = {'version': '3.1.2', 'platform': 'x86_64-linux', 'rubygems_version': '3.3.15', 'abi_version': '3.1.0',
             'key': 'ruby-3.1.0-x86_64-linux', 'engine': 'ruby', 'executable': '/usr/bin/ruby'}


def gem_cache(ansible, check=False, diff=False, **args):
    return ansible.module('localhost', MODULE, args, check=check, diff=diff)['localhost']


def listing(path):
    return sorted(f for f in os.listdir(path) if not f.startswith('.'))


def snapshot(path):
    return dict((f, open(os.path.join(path, f), 'rb').read()) for f in sorted(os.listdir(path)))


def fetched_gems(source):
    return sorted(os.path.basename(p) for p in source.requests if p.startswith('/gems/'))


# --- closure ------------------------------------------------------------------------------------

def test_chain_native_gem_and_pinned_older_version_land_with_their_closure_and_nothing_else(tmp_path, ansible, gem_source):
    dest = str(tmp_path / 'cache')
    result = gem_cache(ansible, gems=THREE, sources=[gem_source.url], platforms=['ruby', HOST_RUBY], dest=dest)
    assert result.get('failed') is not True, result
    assert result['changed'] is True
    ruby, host = result['caches']
    assert (ruby['key'], host['key']) == ('ruby', 'ruby-3.1.0-x86_64-linux')
    for cache in (ruby, host):
        assert cache['gems'] == THREE_FILES and cache['added'] == THREE_FILES
        assert listing(cache['path']) == sorted(THREE_FILES + ['manifest.json'])
        assert cache['native'] == ['airgap_native']

    manifest = load_manifest(host['path'])
    assert manifest.digest == host['digest']
    assert manifest.ecosystem == 'ruby'
    assert manifest.environment == {'key': 'ruby-3.1.0-x86_64-linux', 'platform': 'x86_64-linux', 'ruby_version': '3.1.2',
                                    'abi_version': '3.1.0', 'rubygems_version': '3.3.15'}
    tops = dict((t.name, (t.requirement, t.closure)) for t in manifest.requirements)
    assert tops == {'airgap_chain_a': ('airgap_chain_a', ['airgap_chain_a', 'airgap_chain_b', 'airgap_chain_c']),
                    'airgap_native': ('airgap_native', ['airgap_native']),
                    'airgap_twover': ('airgap_twover (= 1.0.0)', ['airgap_twover'])}
    by_name = dict((a.name, a) for a in manifest.artifacts)
    assert by_name['airgap_native'].native is True and by_name['airgap_chain_a'].native is False
    assert by_name['airgap_chain_a'].requires == ['airgap_chain_b (~> 1.0)']
    assert by_name['airgap_chain_b'].requires == ['airgap_chain_c (>= 0.5)']
    assert by_name['airgap_twover'].version == '1.0.0'
    for artifact in manifest.artifacts:
        path = os.path.join(host['path'], artifact.filename)
        assert artifact.platform == 'ruby' and artifact.source == gem_source.url
        assert (artifact.size, artifact.sha256) == (os.path.getsize(path), sha256_file(path))
        # The same bytes the source serves, under the name RubyGems gave the file.
        assert sha256_file(gem_source.gems[artifact.filename]) == artifact.sha256


def test_nothing_is_installed_or_configured_on_the_controller(tmp_path, ansible, gem_source):
    before = subprocess.run(['gem', 'list', '--local', '--no-versions'], capture_output=True, text=True, check=True).stdout
    gem_cache(ansible, gems=THREE, sources=[gem_source.url], dest=str(tmp_path / 'cache'))
    after = subprocess.run(['gem', 'list', '--local', '--no-versions'], capture_output=True, text=True, check=True).stdout
    assert 'airgap_' not in after and before == after


# --- idempotency --------------------------------------------------------------------------------

def test_second_run_reports_no_change_and_asks_no_source_even_when_it_is_stopped(tmp_path, ansible, gem_source):
    dest = str(tmp_path / 'cache')
    args = dict(gems=THREE, sources=[gem_source.url], platforms=['ruby', HOST_RUBY], dest=dest)
    first = gem_cache(ansible, **args)
    before = dict((c['key'], snapshot(c['path'])) for c in first['caches'])
    del gem_source.requests[:]
    gem_source.stop()
    try:
        second = gem_cache(ansible, **args)
        check = gem_cache(ansible, check=True, **args)
    finally:
        gem_source.start()
    assert second.get('failed') is not True, second
    assert second['changed'] is False and check['changed'] is False
    assert [c['digest'] for c in second['caches']] == [c['digest'] for c in first['caches']]
    assert all(c['fetched'] == [] and c['added'] == [] and c['removed'] == [] for c in second['caches'])
    assert dict((c['key'], snapshot(c['path'])) for c in second['caches']) == before
    assert gem_source.requests == []


# --- minimal changes, prune, check mode, diff ---------------------------------------------------

def test_adding_a_gem_fetches_only_it_and_check_mode_and_diff_report_it_first(tmp_path, ansible, gem_source):
    dest = str(tmp_path / 'cache')
    gem_cache(ansible, gems=['airgap_chain_a'], sources=[gem_source.url], dest=dest)
    before = snapshot(os.path.join(dest, 'ruby'))

    planned = gem_cache(ansible, check=True, diff=True, gems=['airgap_chain_a', 'airgap_twover:1.0.0'],
                        sources=[gem_source.url], dest=dest)
    assert planned['changed'] is True
    assert planned['caches'][0]['added'] == ['airgap_twover-1.0.0.gem'] and planned['caches'][0]['removed'] == []
    assert snapshot(os.path.join(dest, 'ruby')) == before

    del gem_source.requests[:]
    added = gem_cache(ansible, gems=['airgap_chain_a', 'airgap_twover:1.0.0'], sources=[gem_source.url], dest=dest)
    cache = added['caches'][0]
    assert cache['added'] == cache['fetched'] == ['airgap_twover-1.0.0.gem'] and cache['removed'] == []
    assert fetched_gems(gem_source) == ['airgap_twover-1.0.0.gem']
    assert listing(cache['path']) == sorted(CHAIN + ['airgap_twover-1.0.0.gem', 'manifest.json'])
    for name in CHAIN:
        assert snapshot(cache['path'])[name] == before[name]


def test_removing_a_gem_drops_its_closure_and_prune_check_mode_and_diff_report_it(tmp_path, ansible, gem_source):
    dest = str(tmp_path / 'cache')
    gem_cache(ansible, gems=THREE, sources=[gem_source.url], dest=dest)
    path = os.path.join(dest, 'ruby')
    before = snapshot(path)

    planned = gem_cache(ansible, check=True, diff=True, gems=['airgap_native', 'airgap_twover:1.0.0'],
                        sources=[gem_source.url], dest=dest)
    assert planned['changed'] is True
    assert planned['caches'][0]['removed'] == planned['caches'][0]['pruned'] == CHAIN
    assert snapshot(path) == before

    del gem_source.requests[:]
    removed = gem_cache(ansible, gems=['airgap_native', 'airgap_twover:1.0.0'], sources=[gem_source.url], dest=dest)
    cache = removed['caches'][0]
    assert cache['removed'] == cache['pruned'] == CHAIN and cache['added'] == [] and cache['fetched'] == []
    assert fetched_gems(gem_source) == []
    assert listing(path) == ['airgap_native-1.0.0.gem', 'airgap_twover-1.0.0.gem', 'manifest.json']


def test_a_newer_release_does_not_move_cached_gems_until_refresh(tmp_path, ansible, gem_source):
    root = _copy_source(gem_source, str(tmp_path / 'source'))
    newer = os.path.join(str(tmp_path), 'airgap_twover-2.0.0.gem')
    shutil.move(os.path.join(root, 'gems', 'airgap_twover-2.0.0.gem'), newer)
    subprocess.run(['gem', 'generate_index', '--directory', root], check=True, capture_output=True)
    source = StaticSource(root)
    dest = str(tmp_path / 'cache')
    try:
        first = gem_cache(ansible, gems=['airgap_twover'], sources=[source.url], dest=dest)
        assert first['caches'][0]['gems'] == ['airgap_twover-1.0.0.gem']
        # 2.0.0 is released; adding another gem must not upgrade what the cache holds.
        shutil.copy(newer, os.path.join(root, 'gems'))
        subprocess.run(['gem', 'generate_index', '--directory', root], check=True, capture_output=True)
        added = gem_cache(ansible, gems=['airgap_twover', 'airgap_chain_a'], sources=[source.url], dest=dest)
        same = gem_cache(ansible, gems=['airgap_twover', 'airgap_chain_a'], sources=[source.url], dest=dest)
        refreshed = gem_cache(ansible, gems=['airgap_twover', 'airgap_chain_a'], sources=[source.url], dest=dest, refresh=True)
    finally:
        source.stop()
    assert added['caches'][0]['added'] == CHAIN and added['caches'][0]['removed'] == []
    assert same['changed'] is False
    assert refreshed['changed'] is True
    assert (refreshed['caches'][0]['added'], refreshed['caches'][0]['removed']) == (['airgap_twover-2.0.0.gem'],
                                                                                    ['airgap_twover-1.0.0.gem'])
    assert refreshed['caches'][0]['fetched'] == ['airgap_twover-2.0.0.gem']


def test_diff_lists_the_gem_files_before_and_after(tmp_path, ansible, gem_source):
    dest = str(tmp_path / 'cache')
    gem_cache(ansible, gems=['airgap_twover:1.0.0'], sources=[gem_source.url], dest=dest)
    result = ansible.module('localhost', MODULE, dict(gems=['airgap_twover:2.0.0'], sources=[gem_source.url], dest=dest),
                            check=True, diff=True)['localhost']
    assert result['changed'] is True
    assert result['caches'][0]['added'] == ['airgap_twover-2.0.0.gem']
    assert result['caches'][0]['removed'] == ['airgap_twover-1.0.0.gem']
    assert result['diff'][0]['before'] == 'airgap_twover-1.0.0.gem\n'
    assert result['diff'][0]['after'] == 'airgap_twover-2.0.0.gem\n'


def test_without_prune_files_of_dropped_gems_stay_unlisted(tmp_path, ansible, gem_source):
    dest = str(tmp_path / 'cache')
    gem_cache(ansible, gems=['airgap_twover:1.0.0'], sources=[gem_source.url], dest=dest)
    kept = gem_cache(ansible, gems=['airgap_twover:2.0.0'], sources=[gem_source.url], dest=dest, prune=False)
    assert kept['caches'][0]['removed'] == ['airgap_twover-1.0.0.gem'] and kept['caches'][0]['pruned'] == []
    path = os.path.join(dest, 'ruby')
    assert listing(path) == ['airgap_twover-1.0.0.gem', 'airgap_twover-2.0.0.gem', 'manifest.json']
    assert [a.filename for a in load_manifest(path).artifacts] == ['airgap_twover-2.0.0.gem']


# --- sources ------------------------------------------------------------------------------------

def _gemrc_listing(tmp_path, url):
    gemrc = tmp_path / 'gemrc'
    gemrc.write_text('---\n:sources:\n- %s\n' % url)
    return Ansible(env={'GEMRC': str(gemrc)})


def test_the_controllers_gemrc_sources_are_not_used_unless_asked(tmp_path, gem_source):
    with_gemrc = _gemrc_listing(tmp_path, gem_source.url)
    ignored = gem_cache(with_gemrc, gems=['airgap_chain_a'], dest=str(tmp_path / 'ignored'))
    assert ignored.get('failed') is True
    assert ignored['msg'].startswith('gem source rubygems.org/ is unreachable'), ignored['msg']
    used = gem_cache(with_gemrc, gems=['airgap_chain_a'], use_gemrc_sources=True, dest=str(tmp_path / 'used'))
    assert used.get('failed') is not True, used
    assert used['caches'][0]['gems'] == CHAIN


# --- platforms ----------------------------------------------------------------------------------

def _build_gem(work, name, version, platform=None, required_ruby=None, requires=()):
    """A small gem built here (no extension to compile); returns the .gem path."""
    source = os.path.join(work, '%s-%s-%s' % (name, version, platform or 'ruby'))
    os.makedirs(os.path.join(source, 'lib'))
    with open(os.path.join(source, 'lib', '%s.rb' % name), 'w') as handle:
        handle.write('module Built; VERSION = %r; end\n' % version)
    lines = ['Gem::Specification.new do |s|', '  s.name = %r' % name, '  s.version = %r' % version,
             '  s.summary = "airgap.packages gem_cache test gem"', '  s.authors = ["airgap.packages"]',
             '  s.license = "GPL-3.0-or-later"', '  s.files = ["lib/%s.rb"]' % name]
    lines += ['  s.platform = %r' % platform] if platform else []
    lines += ['  s.required_ruby_version = %r' % required_ruby] if required_ruby else []
    lines += ['  s.add_runtime_dependency %r, %r' % pair for pair in requires]
    with open(os.path.join(source, 'built.gemspec'), 'w') as handle:
        handle.write('\n'.join(lines + ['end', '']))
    done = subprocess.run(['gem', 'build', 'built.gemspec'], cwd=source, check=True, capture_output=True, text=True,
                          env=dict(os.environ, SOURCE_DATE_EPOCH='1700000000'))
    return os.path.join(source, [f for f in os.listdir(source) if f.endswith('.gem')][0]) if done else None


def _platform_variant(work):
    """airgap_native 1.0.0 built for x86_64-linux, as a precompiled gem would be."""
    return _build_gem(work, 'airgap_native', '1.0.0', platform='x86_64-linux')


class StaticSource:
    """A gem source directory on loopback; a request for `hang` blocks until release() (or stop())."""

    def __init__(self, root, hang=None):
        self.root, self.hang = root, hang
        self.hanging, self.released = threading.Event(), threading.Event()
        source = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                if source.hang and self.path == source.hang:
                    source.hanging.set()
                    source.released.wait(60)
                return SimpleHTTPRequestHandler.do_GET(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), partial(Handler, directory=root))
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client killed mid-download is expected
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _copy_source(gem_source, root, extra=()):
    shutil.copytree(gem_source.root, root)
    for path in extra:
        shutil.copy(path, os.path.join(root, 'gems'))
    if extra:
        subprocess.run(['gem', 'generate_index', '--directory', root], check=True, capture_output=True)
    return root


def test_a_precompiled_gem_is_preferred_where_it_fits_and_the_source_gem_elsewhere(tmp_path, ansible, gem_source):
    root = _copy_source(gem_source, str(tmp_path / 'source'), extra=[_platform_variant(str(tmp_path))])
    source = StaticSource(root)
    try:
        result = gem_cache(ansible, gems=['airgap_native', 'airgap_chain_a'], sources=[source.url],
                           platforms=[HOST_RUBY, 'aarch64-linux', 'ruby'], dest=str(tmp_path / 'cache'))
    finally:
        source.stop()
    assert result.get('failed') is not True, result
    host, arm, ruby = result['caches']
    assert host['gems'] == CHAIN + ['airgap_native-1.0.0-x86_64-linux.gem'] and host['native'] == []
    assert arm['gems'] == ruby['gems'] == CHAIN + ['airgap_native-1.0.0.gem']
    assert arm['native'] == ruby['native'] == ['airgap_native']
    assert [a.platform for a in load_manifest(host['path']).artifacts if a.name == 'airgap_native'] == ['x86_64-linux']


def test_required_ruby_version_is_checked_against_the_targets_ruby(tmp_path, ansible, gem_source):
    extra = [_build_gem(str(tmp_path), 'airgap_rubyreq', '1.0.0'),
             _build_gem(str(tmp_path), 'airgap_rubyreq', '2.0.0', required_ruby='>= 3.3')]
    source = StaticSource(_copy_source(gem_source, str(tmp_path / 'source'), extra=extra))
    newer = dict(HOST_RUBY, version='3.3.4', abi_version='3.3.0', key='ruby-3.3.0-x86_64-linux')
    try:
        result = gem_cache(ansible, gems=['airgap_rubyreq'], sources=[source.url], platforms=[HOST_RUBY, newer],
                           dest=str(tmp_path / 'cache'))
        pinned = gem_cache(ansible, gems=['airgap_rubyreq:2.0.0'], sources=[source.url], platforms=[HOST_RUBY],
                           dest=str(tmp_path / 'cache2'))
    finally:
        source.stop()
    assert result.get('failed') is not True, result
    assert [c['gems'] for c in result['caches']] == [['airgap_rubyreq-1.0.0.gem'], ['airgap_rubyreq-2.0.0.gem']]
    assert pinned.get('failed') is True
    assert pinned['msg'] == ('no version of gem airgap_rubyreq satisfies "= 2.0.0" (requested) that fits '
                             'ruby-3.1.0-x86_64-linux; available: 1.0.0, 2.0.0 (2.0.0 needs Ruby >= 3.3)'), pinned['msg']


def test_platform_facts_of_the_offline_hosts_key_the_cache(tmp_path, ansible, fleet_ansible, offline_hosts, gem_source):
    facts = fleet_ansible.module(offline_hosts.names[0], 'airgap.packages.platform_facts', {})[offline_hosts.names[0]]
    ruby = facts['ansible_facts']['airgap_platform']['ruby']
    result = gem_cache(ansible, gems=['airgap_chain_a'], sources=[gem_source.url], platforms=[ruby], dest=str(tmp_path / 'c'))
    assert result['caches'][0]['key'] == ruby['key']
    assert load_manifest(result['caches'][0]['path']).environment_key == ruby['key']


# --- Gemfile.lock -------------------------------------------------------------------------------

LOCK = '''GEM
  remote: https://rubygems.org/
  specs:
    airgap_chain_a (1.0.0)
      airgap_chain_b (~> 1.0)
    airgap_chain_b (1.1.0)
      airgap_chain_c (>= 0.5)
    airgap_chain_c (0.5.0)
    airgap_native (1.0.0)
    airgap_twover (1.0.0)

PLATFORMS
  ruby
  x86_64-linux

DEPENDENCIES
  airgap_chain_a (~> 1.0)
  airgap_native
  airgap_twover (< 2)

BUNDLED WITH
   2.3.15
'''


def test_a_gemfile_lock_gives_exactly_the_locked_set(tmp_path, ansible, gem_source):
    lock = tmp_path / 'Gemfile.lock'
    lock.write_text(LOCK)
    dest = str(tmp_path / 'cache')
    result = gem_cache(ansible, gemfile_lock=str(lock), sources=[gem_source.url], platforms=[HOST_RUBY], dest=dest)
    assert result.get('failed') is not True, result
    assert result['caches'][0]['gems'] == THREE_FILES
    tops = sorted(t.requirement for t in load_manifest(result['caches'][0]['path']).requirements)
    assert tops == ['airgap_chain_a (~> 1.0)', 'airgap_native', 'airgap_twover (< 2)']
    gem_source.stop()
    try:
        again = gem_cache(ansible, gemfile_lock=str(lock), sources=[gem_source.url], platforms=[HOST_RUBY], dest=dest)
    finally:
        gem_source.start()
    assert again['changed'] is False


# --- the action plugin: a current cache answered in-process --------------------------------------
# Only AnsibleModule adds `invocation` to a result: a result without it was answered without running the module.

def test_a_current_cache_on_a_local_connection_is_answered_in_process_with_the_modules_own_result(
        tmp_path, ansible, gem_source):
    lock = tmp_path / 'Gemfile.lock'
    lock.write_text(LOCK.replace('PLATFORMS\n  ruby\n', 'PLATFORMS\n'))  # a warning for the ruby platform, every run
    args = dict(gemfile_lock=str(lock), sources=[gem_source.url], platforms=['ruby', HOST_RUBY], dest=str(tmp_path / 'cache'))
    assert gem_cache(ansible, **args)['changed'] is True
    for check in (False, True):
        in_process, module = local_task_both_ways(ansible, tmp_path, MODULE, args, check=check)
        assert 'invocation' not in in_process and 'invocation' in module, (in_process, module)
        del module['invocation']
        assert in_process == module and in_process['changed'] is False and len(in_process['diff']) == 2
        assert in_process['warnings'] and 'does not list platform ruby' in str(in_process['warnings'])


def test_a_damaged_file_and_an_added_gem_go_to_the_module_then_the_next_run_is_answered_in_process(
        tmp_path, ansible, gem_source):
    where = dict(sources=[gem_source.url], dest=str(tmp_path / 'cache'))
    cache = gem_cache(ansible, gems=['airgap_chain_a'], **where)['caches'][0]
    with open(os.path.join(cache['path'], CHAIN[1]), 'r+b') as handle:
        handle.write(b'X')  # same size, other bytes
    repaired = gem_cache(ansible, gems=['airgap_chain_a'], **where)
    assert 'invocation' in repaired and repaired['changed'] and repaired['caches'][0]['fetched'] == [CHAIN[1]]
    assert sha256_file(os.path.join(cache['path'], CHAIN[1])) == sha256_file(gem_source.gems[CHAIN[1]])
    grown = ['airgap_chain_a', 'airgap_twover:1.0.0']
    rebuilt = gem_cache(ansible, gems=grown, **where)
    assert 'invocation' in rebuilt and rebuilt['changed'] and rebuilt['caches'][0]['added'] == ['airgap_twover-1.0.0.gem']
    again = gem_cache(ansible, gems=grown, **where)
    assert 'invocation' not in again and again['changed'] is False
    assert again['caches'] == [dict(rebuilt['caches'][0], added=[], fetched=[], changed=False)]


@pytest.mark.parametrize('option', [{'refresh': True}, {'use_gemrc_sources': True}])
def test_options_whose_answer_depends_on_the_module_process_run_the_module(tmp_path, ansible, gem_source, option):
    args = dict(gems=['airgap_chain_a'], sources=[gem_source.url], dest=str(tmp_path / 'cache'), **option)
    gem_cache(ansible, **args)
    again = gem_cache(ansible, **args)
    assert 'invocation' in again and not again.get('failed'), again


# --- atomicity ----------------------------------------------------------------------------------

def _descendants(pid):
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parent = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (IOError, OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def test_an_interrupted_build_leaves_the_previous_cache_and_manifest_intact(tmp_path, ansible, gem_source):
    root = _copy_source(gem_source, str(tmp_path / 'source'))
    dest = str(tmp_path / 'cache')
    path = os.path.join(dest, 'ruby')
    source = StaticSource(root, hang='/gems/airgap_twover-2.0.0.gem')
    try:
        gem_cache(ansible, gems=['airgap_chain_a', 'airgap_twover:1.0.0'], sources=[source.url], dest=dest)
        before = snapshot(path)
        argv = ['ansible', 'localhost', '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
                '-m', MODULE, '-a', json.dumps(dict(gems=['airgap_chain_a', 'airgap_native', 'airgap_twover:2.0.0'],
                                                    sources=[source.url], dest=dest))]
        process = subprocess.Popen(argv, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert source.hanging.wait(60), 'the build never reached the download'
            time.sleep(0.3)
        finally:
            # Ansible runs the module in a session of its own: kill the whole tree, by pid.
            for pid in [process.pid] + _descendants(process.pid):
                _kill(pid)
            process.wait()
    finally:
        source.stop()
    assert snapshot(path) == before

    # The next run finishes the job and clears what the killed one left behind.
    result = gem_cache(ansible, gems=['airgap_chain_a', 'airgap_native', 'airgap_twover:2.0.0'], sources=[gem_source.url],
                       dest=dest)
    assert result['caches'][0]['added'] == ['airgap_native-1.0.0.gem', 'airgap_twover-2.0.0.gem']
    assert [f for f in os.listdir(dest) if f.startswith(WORKSPACE_PREFIX)] == []


def test_a_failed_build_leaves_the_previous_cache_and_manifest_intact(tmp_path, ansible, gem_source):
    root = _copy_source(gem_source, str(tmp_path / 'source'))
    dest = str(tmp_path / 'cache')
    path = os.path.join(dest, 'ruby')
    source = StaticSource(root)
    try:
        gem_cache(ansible, gems=['airgap_twover:1.0.0'], sources=[source.url], dest=dest)
        before = snapshot(path)
        # The index still lists the gems, but one file is gone from the source: the fetch fails midway.
        os.unlink(os.path.join(root, 'gems', 'airgap_twover-2.0.0.gem'))
        result = gem_cache(ansible, gems=['airgap_chain_a', 'airgap_twover:2.0.0'], sources=[source.url], dest=dest)
    finally:
        source.stop()
    assert result.get('failed') is True
    assert 'airgap_twover-2.0.0.gem is on none of the sources' in result['msg']
    assert snapshot(path) == before
    assert [f for f in os.listdir(dest) if f.startswith(WORKSPACE_PREFIX)] == []


# --- errors -------------------------------------------------------------------------------------

def failure(ansible, tmp_path, **args):
    args.setdefault('dest', str(tmp_path / 'cache'))
    result = gem_cache(ansible, **args)
    assert result.get('failed') is True, result
    return result


def test_an_unknown_gem_is_named(tmp_path, ansible, gem_source):
    result = failure(ansible, tmp_path, gems=['airgap_chain_a', 'airgap_nope'], sources=[gem_source.url])
    assert result['msg'].startswith('unknown gem airgap_nope for ruby (requested): no source has it (127.0.0.1:%d/)'
                                    % gem_source.port), result['msg']
    assert result['gem'] == 'airgap_nope'


def test_an_unsatisfiable_version_is_named_with_the_versions_that_exist(tmp_path, ansible, gem_source):
    result = failure(ansible, tmp_path, gems=['airgap_twover:>= 3'], sources=[gem_source.url])
    assert result['msg'] == ('no version of gem airgap_twover satisfies ">= 3" (requested) that fits ruby; '
                             'available: 1.0.0, 2.0.0')


def test_conflicting_requirements_are_named(tmp_path, ansible, gem_source):
    result = failure(ansible, tmp_path, gems=['airgap_twover:1.0.0', {'name': 'airgap_twover', 'version': '2.0.0'}],
                     sources=[gem_source.url])
    assert result['msg'].startswith('conflicting requirements on gem airgap_twover for ruby:'), result['msg']
    assert '(= 1.0.0)' in result['msg'] and '(= 2.0.0)' in result['msg']


def test_a_requirement_conflicting_with_a_dependency_names_both_chains(tmp_path, ansible, gem_source):
    extra = [_build_gem(str(tmp_path), 'airgap_wants_two', '1.0.0', requires=[('airgap_twover', '~> 2.0')])]
    source = StaticSource(_copy_source(gem_source, str(tmp_path / 'source'), extra=extra))
    try:
        result = failure(ansible, tmp_path, gems=['airgap_wants_two', 'airgap_twover:1.0.0'], sources=[source.url])
    finally:
        source.stop()
    assert result['msg'].startswith('conflicting requirements on gem airgap_twover for ruby:'), result['msg']
    assert 'airgap_wants_two' in result['msg'] and '(~> 2.0)' in result['msg'] and '(= 1.0.0)' in result['msg']


def test_an_unreachable_source_is_named_without_its_credentials(tmp_path, ansible):
    result = failure(ansible, tmp_path, gems=['airgap_chain_a'], sources=['http://ci:s3cr3t-tok@127.0.0.1:9/private'])
    assert result['msg'].startswith('gem source 127.0.0.1:9/private/ is unreachable'), result['msg']
    assert 's3cr3t' not in json.dumps(result)


def test_a_source_with_credentials_never_reaches_manifest_or_results(tmp_path, ansible, gem_source):
    url = gem_source.url.replace('http://', 'http://ci:s3cr3t-tok@')
    result = gem_cache(ansible, gems=['airgap_chain_a'], sources=[url], dest=str(tmp_path / 'cache'))
    assert result['changed'] is True
    assert 's3cr3t' not in json.dumps(result)
    text = open(os.path.join(result['caches'][0]['path'], 'manifest.json')).read()
    assert 's3cr3t' not in text and '"source": "%s"' % gem_source.url in text
    again = gem_cache(ansible, gems=['airgap_chain_a'], sources=[url], dest=str(tmp_path / 'cache'))
    assert 'invocation' not in again and again['changed'] is False, again  # current: answered in-process
    assert 's3cr3t' not in json.dumps(again)


def test_a_malformed_gemfile_lock_is_named_with_its_line(tmp_path, ansible, gem_source):
    lock = tmp_path / 'Gemfile.lock'
    lock.write_text(LOCK.replace('    airgap_chain_c (0.5.0)\n', '    airgap_chain_c 0.5.0\n'))
    result = failure(ansible, tmp_path, gemfile_lock=str(lock), sources=[gem_source.url])
    assert result['msg'].startswith('%s is malformed at line 8: ' % lock), result['msg']
