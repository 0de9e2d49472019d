# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_cache's plan and build against a stand-in for RubyGems (no Ruby, no network)."""

import json
import os
import textwrap
import threading

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._common.fsutil import environment_lock
from ansible_collections.airgap.packages.plugins.module_utils._controller import cache_dir
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_cache import (
    build_gem_caches, current_gem_caches, request_from_params)
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_resolver import FetchedGem, ResolvedGem
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_spec import gem_filename
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import load_manifest, sha256_file

SOURCE = 'http://127.0.0.1:9/'

# name -> version -> (runtime requires, native, platforms available)
UNIVERSE = {
    'chain_a': {'1.0.0': (['chain_b (~> 1.0)'], False, ['ruby'])},
    'chain_b': {'1.1.0': (['chain_c (>= 0.5)'], False, ['ruby'])},
    'chain_c': {'0.5.0': ([], False, ['ruby']), '0.6.0': ([], False, ['ruby'])},
    'native': {'1.0.0': ([], True, ['ruby', 'x86_64-linux'])},
    'twover': {'1.0.0': ([], False, ['ruby']), '2.0.0': ([], False, ['ruby'])},
}


def _key(version):
    return [int(part) for part in version.split('.')]


def _fits(requirements, version):
    key = _key
    for constraint in requirements:
        operator, wanted = constraint.split(' ', 1)
        if operator == '=' and version != wanted:
            return False
        if operator == '>=' and key(version) < key(wanted):
            return False
        if operator == '<' and key(version) >= key(wanted):
            return False
        if operator == '~>' and not (key(version)[0] == key(wanted)[0] and key(version) >= key(wanted)):
            return False
    return True


class FakeRubyGems:
    """Resolves greedily in UNIVERSE (the highest fitting version, or the preferred one) and
    'downloads' files whose bytes name the gem."""

    def __init__(self, universe=None, fail_fetch=None, source=SOURCE):
        self.universe = universe or UNIVERSE
        self.source = source
        self.calls = []
        self.fail_fetch = fail_fetch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def resolve(self, targets):
        self.calls.append(('resolve', [t.key for t, _r, _p in targets]))
        answer = {}
        for target, requests, prefer in targets:
            picked, todo = {}, [(r.name, list(r.requirements)) for r in requests]
            while todo:
                name, requirements = todo.pop(0)
                if name in picked:
                    continue
                if name not in self.universe:
                    raise ResolutionError('unknown gem %s' % name)
                versions = [v for v in sorted(self.universe[name]) if _fits(requirements, v)]
                version = prefer.get(name) if prefer.get(name) in versions else versions[-1]
                requires, _native, platforms = self.universe[name][version]
                platform = target.platform if target.platform in platforms else 'ruby'
                picked[name] = ResolvedGem(name, version, platform, gem_filename(name, version, platform), self.source,
                                           requires)
                for text in requires:
                    dep, _sep, rest = text.partition(' ')
                    todo.append((dep, [c.strip() for c in rest.strip('()').split(',')]))
            answer[target.key] = list(picked.values())
        return answer

    def fetch(self, directory, items):
        self.calls.append(('fetch', sorted(f for f, _urls in items)))
        if self.fail_fetch:
            raise self.fail_fetch
        fetched = []
        for filename, urls in items:
            name, version, platform = self._identify(filename)
            requires, native, _platforms = self.universe[name][version]
            with open(os.path.join(directory, filename), 'wb') as handle:
                handle.write(('gem %s' % filename).encode('ascii'))
            fetched.append(FetchedGem(filename, urls[0], name, version, platform, requires, native))
        return fetched

    def _identify(self, filename):
        for name, versions in self.universe.items():
            for version, (_r, _n, platforms) in versions.items():
                for platform in platforms:
                    if gem_filename(name, version, platform) == filename:
                        return name, version, platform
        raise ResolutionError('%s is on none of the sources' % filename)


def params(dest, **overrides):
    base = dict(gems=['chain_a', 'native', 'twover:1.0.0'], gemfile_lock=None, sources=[SOURCE], use_gemrc_sources=False,
                platforms=['ruby'], dest=str(dest), prune=True, refresh=False)
    base.update(overrides)
    return base


def build(dest, fake=None, check_mode=False, diff=False, **overrides):
    fake = fake or FakeRubyGems()
    result = build_gem_caches(request_from_params(params(dest, **overrides)), lambda: fake, check_mode=check_mode,
                              want_diff=diff)
    return result, fake


def never_called():
    raise AssertionError('no source may be asked')


def test_first_build_holds_the_closure_and_a_manifest_for_the_environment(tmp_path):
    result, _fake = build(tmp_path, platforms=['ruby', 'x86_64-linux'])
    assert result['changed'] is True
    ruby, linux = result['caches']
    assert ruby['gems'] == ['chain_a-1.0.0.gem', 'chain_b-1.1.0.gem', 'chain_c-0.6.0.gem', 'native-1.0.0.gem', 'twover-1.0.0.gem']
    assert 'native-1.0.0-x86_64-linux.gem' in linux['gems']
    manifest = load_manifest(str(tmp_path / 'ruby'))
    assert manifest.digest == ruby['digest']
    assert manifest.environment == {'key': 'ruby', 'platform': 'ruby'}
    tops = dict((t.name, t) for t in manifest.requirements)
    assert tops['chain_a'].closure == ['chain_a', 'chain_b', 'chain_c']
    assert tops['twover'].requirement == 'twover (= 1.0.0)'
    native = [a for a in manifest.artifacts if a.name == 'native'][0]
    assert native.native is True and ruby['native'] == ['native']
    chain_a = [a for a in manifest.artifacts if a.name == 'chain_a'][0]
    assert chain_a.requires == ['chain_b (~> 1.0)']
    assert chain_a.sha256 == sha256_file(str(tmp_path / 'ruby' / 'chain_a-1.0.0.gem'))
    assert sorted(os.listdir(str(tmp_path / 'ruby'))) == sorted(ruby['gems'] + ['manifest.json'])


def test_second_run_with_the_same_request_changes_nothing_and_asks_no_source(tmp_path):
    first, _fake = build(tmp_path, platforms=['ruby', 'x86_64-linux'])
    again = build_gem_caches(request_from_params(params(tmp_path, platforms=['ruby', 'x86_64-linux'])), never_called)
    assert again['changed'] is False
    assert [c['digest'] for c in again['caches']] == [c['digest'] for c in first['caches']]
    assert all(c['fetched'] == [] and c['added'] == [] and c['removed'] == [] for c in again['caches'])


def test_cache_files_are_independent_copies_across_environments(tmp_path):
    build(tmp_path, platforms=['ruby', 'x86_64-linux'])
    assert os.stat(str(tmp_path / 'ruby' / 'chain_a-1.0.0.gem')).st_ino != os.stat(str(tmp_path / 'x86_64-linux' / 'chain_a-1.0.0.gem')).st_ino


def test_adding_a_gem_fetches_only_it_and_keeps_the_cached_versions(tmp_path):
    build(tmp_path, gems=['chain_a', 'chain_c:0.5.0'])
    result, fake = build(tmp_path, gems=['chain_a', 'chain_c:0.5.0', 'twover'])
    cache = result['caches'][0]
    assert cache['added'] == ['twover-2.0.0.gem'] and cache['removed'] == [] and cache['fetched'] == ['twover-2.0.0.gem']
    assert fake.calls[-1] == ('fetch', ['twover-2.0.0.gem'])


def test_removing_a_gem_drops_its_closure_only_and_prunes_the_files(tmp_path):
    build(tmp_path)
    result, fake = build(tmp_path, gems=['native', 'twover:1.0.0'])
    cache = result['caches'][0]
    assert cache['removed'] == ['chain_a-1.0.0.gem', 'chain_b-1.1.0.gem', 'chain_c-0.6.0.gem']
    assert cache['added'] == [] and cache['fetched'] == [] and cache['pruned'] == cache['removed']
    assert [c[0] for c in fake.calls] == ['resolve']
    assert sorted(os.listdir(str(tmp_path / 'ruby'))) == ['manifest.json', 'native-1.0.0.gem', 'twover-1.0.0.gem']


def test_without_prune_dropped_files_stay_unlisted(tmp_path):
    build(tmp_path)
    result, _fake = build(tmp_path, gems=['native'], prune=False)
    assert result['caches'][0]['pruned'] == []
    assert os.path.exists(str(tmp_path / 'ruby' / 'twover-1.0.0.gem'))
    assert [a.name for a in load_manifest(str(tmp_path / 'ruby')).artifacts] == ['native']
    # A later run with prune removes them and says so, without asking any source.
    later = build_gem_caches(request_from_params(params(tmp_path, gems=['native'])), never_called)
    assert later['changed'] is True and 'twover-1.0.0.gem' in later['caches'][0]['pruned']


def test_check_mode_reports_the_plan_and_writes_nothing(tmp_path):
    dest = tmp_path / 'dest'
    result, fake = build(dest, check_mode=True, diff=True)
    assert result['changed'] is True and not dest.exists()
    cache = result['caches'][0]
    assert cache['added'] == cache['fetched'] == cache['gems'] and cache['digest'] is None
    assert [c[0] for c in fake.calls] == ['resolve']
    assert result['diff'][0]['before'] == '' and 'twover-1.0.0.gem\n' in result['diff'][0]['after']


def test_check_mode_and_diff_report_a_removal_without_acting(tmp_path):
    build(tmp_path)
    before = load_manifest(str(tmp_path / 'ruby')).digest
    result, _fake = build(tmp_path, gems=['chain_a', 'native'], check_mode=True, diff=True)
    cache = result['caches'][0]
    assert result['changed'] is True
    assert cache['removed'] == ['twover-1.0.0.gem'] and cache['pruned'] == ['twover-1.0.0.gem']
    assert 'twover-1.0.0.gem' in result['diff'][0]['before'] and 'twover' not in result['diff'][0]['after']
    assert load_manifest(str(tmp_path / 'ruby')).digest == before
    assert os.path.exists(str(tmp_path / 'ruby' / 'twover-1.0.0.gem'))


def test_check_mode_of_a_current_cache_reports_no_change_without_sources(tmp_path):
    build(tmp_path)
    result = build_gem_caches(request_from_params(params(tmp_path)), never_called, check_mode=True)
    assert result['changed'] is False


def _snapshot(path):
    return dict((f, open(os.path.join(path, f), 'rb').read()) for f in sorted(os.listdir(path)))


def test_a_failed_fetch_leaves_the_previous_cache_and_manifest_intact(tmp_path):
    build(tmp_path)
    before = _snapshot(str(tmp_path / 'ruby'))
    with pytest.raises(ResolutionError, match='unreachable'):
        build(tmp_path, gems=['chain_a', 'twover:2.0.0'], fake=FakeRubyGems(fail_fetch=ResolutionError('source unreachable')))
    assert _snapshot(str(tmp_path / 'ruby')) == before
    assert [f for f in os.listdir(str(tmp_path)) if f.startswith(cache_dir.WORKSPACE_PREFIX)] == []


def test_a_workspace_left_by_a_dead_run_is_removed_and_never_shipped(tmp_path):
    build(tmp_path)
    stale = tmp_path / (cache_dir.WORKSPACE_PREFIX + 'abc')
    stale.mkdir()
    (stale / 'half.gem').write_bytes(b'x')
    result, _fake = build(tmp_path)
    assert result['changed'] is False and not stale.exists()
    assert 'half.gem' not in os.listdir(str(tmp_path / 'ruby'))


def test_a_file_the_manifest_does_not_list_is_pruned_whatever_its_name(tmp_path):
    build(tmp_path)
    (tmp_path / 'ruby' / '.twover-2.0.0.gem.airgap-tmp').write_bytes(b'x')
    (tmp_path / 'ruby' / 'notes.txt').write_bytes(b'x')
    result, _fake = build(tmp_path)
    assert result['changed'] is True and result['caches'][0]['pruned'] == ['.twover-2.0.0.gem.airgap-tmp', 'notes.txt']
    assert sorted(os.listdir(str(tmp_path / 'ruby'))) == sorted(result['caches'][0]['gems'] + ['manifest.json'])


def test_a_damaged_file_is_fetched_again_and_only_it(tmp_path):
    first, _fake = build(tmp_path)
    (tmp_path / 'ruby' / 'chain_b-1.1.0.gem').write_bytes(b'truncated')
    result, fake = build(tmp_path)
    assert fake.calls[-1] == ('fetch', ['chain_b-1.1.0.gem'])
    cache = result['caches'][0]
    assert cache['changed'] is True and cache['fetched'] == ['chain_b-1.1.0.gem'] and cache['added'] == []
    assert cache['digest'] == first['caches'][0]['digest']


def test_changing_the_sources_resolves_again(tmp_path):
    build(tmp_path)
    fake = FakeRubyGems()
    build_gem_caches(request_from_params(params(tmp_path, sources=['http://127.0.0.1:10/'])), lambda: fake)
    assert fake.calls[0][0] == 'resolve'


def test_refresh_resolves_again_even_when_current(tmp_path):
    build(tmp_path)
    result, fake = build(tmp_path, refresh=True)
    assert [c[0] for c in fake.calls] == ['resolve'] and result['changed'] is False


def test_credentials_never_reach_the_manifest(tmp_path):
    private = 'https://ci:t0ken@gems.example.com/private'
    build(tmp_path, sources=[private], fake=FakeRubyGems(source=private + '/'))
    text = (tmp_path / 'ruby' / 'manifest.json').read_text()
    assert 't0ken' not in text and 'ci@' not in text
    assert json.loads(text)['artifacts'][0]['source'] == 'https://gems.example.com/private/'
    # The same request with the same (credentialed) source is current.
    again = build_gem_caches(request_from_params(params(tmp_path, sources=[private])), never_called)
    assert again['changed'] is False


LOCK = textwrap.dedent('''\
    GEM
      remote: https://rubygems.org/
      specs:
        chain_a (1.0.0)
          chain_b (~> 1.0)
        chain_b (1.1.0)
          chain_c (>= 0.5)
        chain_c (0.5.0)
        native (1.0.0)
        native (1.0.0-x86_64-linux)

    PLATFORMS
      ruby
      x86_64-linux

    DEPENDENCIES
      chain_a
      native

    BUNDLED WITH
       2.3.15
    ''')


def test_a_gemfile_lock_gives_exactly_the_locked_set_without_resolving(tmp_path):
    lock = tmp_path / 'Gemfile.lock'
    lock.write_text(LOCK)
    dest = tmp_path / 'dest'
    result, fake = build(dest, gems=[], gemfile_lock=str(lock), platforms=['x86_64-linux', 'ruby'])
    assert [c[0] for c in fake.calls] == ['fetch']
    linux, ruby = result['caches']
    assert linux['gems'] == ['chain_a-1.0.0.gem', 'chain_b-1.1.0.gem', 'chain_c-0.5.0.gem', 'native-1.0.0-x86_64-linux.gem']
    assert ruby['gems'] == ['chain_a-1.0.0.gem', 'chain_b-1.1.0.gem', 'chain_c-0.5.0.gem', 'native-1.0.0.gem']
    tops = dict((t.name, t.closure) for t in load_manifest(linux['path']).requirements)
    assert tops == {'chain_a': ['chain_a', 'chain_b', 'chain_c'], 'native': ['native']}
    again = build_gem_caches(request_from_params(params(dest, gems=[], gemfile_lock=str(lock), platforms=['x86_64-linux', 'ruby'])),
                             never_called)
    assert again['changed'] is False


def test_a_new_locked_version_replaces_only_that_gem(tmp_path):
    lock = tmp_path / 'Gemfile.lock'
    lock.write_text(LOCK)
    dest = tmp_path / 'dest'
    build(dest, gems=[], gemfile_lock=str(lock))
    lock.write_text(LOCK.replace('chain_c (0.5.0)', 'chain_c (0.6.0)'))
    result, fake = build(dest, gems=[], gemfile_lock=str(lock))
    cache = result['caches'][0]
    assert (cache['added'], cache['removed'], cache['pruned']) == (['chain_c-0.6.0.gem'], ['chain_c-0.5.0.gem'], ['chain_c-0.5.0.gem'])
    assert fake.calls == [('fetch', ['chain_c-0.6.0.gem'])]


def test_gems_next_to_a_gemfile_lock_are_resolved_around_the_locked_versions(tmp_path):
    lock = tmp_path / 'Gemfile.lock'
    lock.write_text(LOCK)
    result, fake = build(tmp_path / 'dest', gems=['twover:1.0.0'], gemfile_lock=str(lock), platforms=['x86_64-linux'])
    cache = result['caches'][0]
    assert 'chain_c-0.5.0.gem' in cache['gems'] and 'twover-1.0.0.gem' in cache['gems']
    assert 'native-1.0.0-x86_64-linux.gem' in cache['gems']
    assert fake.calls[0][0] == 'resolve'


def test_nothing_requested_is_an_error(tmp_path):
    with pytest.raises(ResolutionError, match='nothing to cache'):
        request_from_params(params(tmp_path, gems=[]))


def test_a_missing_gemfile_lock_is_named(tmp_path):
    with pytest.raises(ResolutionError, match='cannot read gemfile_lock .*nope.lock'):
        request_from_params(params(tmp_path, gems=[], gemfile_lock=str(tmp_path / 'nope.lock')))


def test_sources_default_to_rubygems_org_and_gemrc_ones_only_when_asked(tmp_path):
    assert request_from_params(params(tmp_path, sources=None)).sources == ['https://rubygems.org/']
    asked = request_from_params(params(tmp_path, sources=None, use_gemrc_sources=True),
                                read_gemrc_sources=lambda: ['http://mirror.example.com'])
    assert asked.sources == ['http://mirror.example.com/']
    both = request_from_params(params(tmp_path, use_gemrc_sources=True), read_gemrc_sources=lambda: [SOURCE])
    assert both.sources == [SOURCE]


# --- current_gem_caches: the no-op, answered without a build -----------------------------------

def current(dest, check_mode=False, diff=False, **overrides):
    return current_gem_caches(request_from_params(params(dest, **overrides)), check_mode=check_mode, want_diff=diff)


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_current_cache_is_reported_exactly_as_the_build_reports_its_no_op(tmp_path, check_mode):
    build(tmp_path, platforms=['ruby', 'x86_64-linux'])
    request = request_from_params(params(tmp_path, platforms=['ruby', 'x86_64-linux']))
    noop = build_gem_caches(request, never_called, check_mode=check_mode, want_diff=True)
    assert noop['changed'] is False
    assert current(tmp_path, check_mode=check_mode, diff=True, platforms=['ruby', 'x86_64-linux']) == noop


def test_warnings_of_a_current_cache_are_those_of_the_build(tmp_path):
    lock = tmp_path / 'Gemfile.lock'
    lock.write_text(LOCK.replace('PLATFORMS\n  ruby\n', 'PLATFORMS\n'))
    dest = tmp_path / 'dest'
    build(dest, gems=[], gemfile_lock=str(lock), platforms=['aarch64-linux'])
    noop = build_gem_caches(request_from_params(params(dest, gems=[], gemfile_lock=str(lock), platforms=['aarch64-linux'])),
                            never_called)
    assert noop['changed'] is False and 'aarch64-linux' in noop['warnings'][0]
    assert current(dest, gems=[], gemfile_lock=str(lock), platforms=['aarch64-linux']) == noop


@pytest.mark.parametrize('change', [dict(gems=['chain_a']), dict(sources=['http://127.0.0.1:9/other/']),
                                    dict(platforms=['ruby', 'x86_64-linux']), dict(refresh=True)])
def test_a_changed_request_is_not_current(tmp_path, change):
    build(tmp_path)
    assert current(tmp_path, **change) is None


@pytest.mark.parametrize('damage', ['altered', 'truncated', 'missing'])
def test_a_damaged_file_is_not_current_and_is_left_for_the_build_to_repair(tmp_path, damage):
    build(tmp_path)
    path = tmp_path / 'ruby' / 'chain_b-1.1.0.gem'
    if damage == 'missing':
        path.unlink()
    else:
        size = len(path.read_bytes())
        path.write_bytes(b'\0' * (size if damage == 'altered' else 3))
    before = _snapshot(str(tmp_path / 'ruby'))
    assert current(tmp_path) is None
    assert _snapshot(str(tmp_path / 'ruby')) == before


def test_a_missing_manifest_or_dest_is_not_current_and_nothing_is_created(tmp_path):
    assert current(tmp_path / 'dest') is None
    assert not (tmp_path / 'dest').exists()
    build(tmp_path)
    (tmp_path / 'ruby' / 'manifest.json').unlink()
    assert current(tmp_path) is None


def test_what_the_build_would_tidy_is_not_current_except_in_check_mode_where_the_build_leaves_it(tmp_path):
    build(tmp_path)
    stale = tmp_path / (cache_dir.WORKSPACE_PREFIX + 'abc')
    stale.mkdir()
    assert current(tmp_path) is None
    assert current(tmp_path, check_mode=True) is not None
    stale.rmdir()
    leftover = tmp_path / 'ruby' / '.chain_a-1.0.0.gem.airgap-tmp'
    leftover.write_bytes(b'x')
    assert current(tmp_path) is None
    assert current(tmp_path, prune=False) is not None
    leftover.unlink()
    (tmp_path / 'ruby' / 'twover-2.0.0.gem').write_bytes(b'dropped earlier')
    assert current(tmp_path) is None
    assert current(tmp_path, prune=False) is not None


def test_the_answer_waits_for_a_build_that_holds_the_cache_lock(tmp_path):
    build(tmp_path)
    answers = []
    with environment_lock(str(tmp_path / 'ruby')):
        reader = threading.Thread(target=lambda: answers.append(current(tmp_path)))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and answers == []
    reader.join(10)
    assert answers and answers[0]['changed'] is False
