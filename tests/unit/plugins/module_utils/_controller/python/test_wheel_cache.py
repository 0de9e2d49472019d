# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import os
import shutil
import threading
import tomllib

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._controller.python import index_client

from ansible_collections.airgap.packages.plugins.module_utils._controller import cache_dir
from ansible_collections.airgap.packages.plugins.module_utils._controller.python import wheel_cache
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError, ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._common.fsutil import environment_lock
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import load_manifest, sha256_file, verify_artifacts

from sources import file_index, make_wheel


ARM39 = {'version': '3.9.18', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}}
X86_313 = {'version': '3.13.1', 'arch': 'x86_64', 'libc': {'flavor': 'glibc', 'version': '2.36'}}


@pytest.fixture
def index(tmp_path):
    """A file:// simple index: top -> mid -> base, plus extra and a cp39-aarch64-only native."""
    files = str(tmp_path / 'files')
    make_wheel(files, 'top', '1.0', requires=['mid'])
    make_wheel(files, 'mid', '1.0', requires=['base'])
    make_wheel(files, 'base', '1.0')
    make_wheel(files, 'extra', '1.0')
    make_wheel(files, 'native', '1.0', tags='cp39-cp39-manylinux_2_17_aarch64')
    url = file_index(str(tmp_path / 'index'), files)
    return {'url': url, 'files': files, 'root': str(tmp_path / 'index')}


@pytest.fixture
def fetched(monkeypatch):
    """Names of the files downloaded during a test."""
    names = []
    original = index_client.IndexClient.fetch

    def fetch(self, dist, directory):
        names.append(dist.filename)
        return original(self, dist, directory)

    monkeypatch.setattr(index_client.IndexClient, 'fetch', fetch)
    return names


def build(tmp_path, index, requirements, platforms=(ARM39,), check_mode=False, **options):
    opts = wheel_cache.Options(dest=str(tmp_path / 'cache'), requirements=list(requirements), index_url=index['url'],
                               platforms=list(platforms), **options)
    changed, caches, diffs = wheel_cache.build_caches(opts, check_mode=check_mode)
    return changed, caches, diffs


def test_first_build_writes_every_file_and_a_manifest_that_verifies(tmp_path, index):
    changed, (cache,), _diffs = build(tmp_path, index, ['top'])
    assert changed and cache['added'] == ['base-1.0-py3-none-any.whl', 'mid-1.0-py3-none-any.whl', 'top-1.0-py3-none-any.whl']
    manifest = load_manifest(cache['path'])
    verify_artifacts(cache['path'], manifest.artifacts)
    assert manifest.digest == cache['digest'] and manifest.environment_key == cache['key']
    assert [(t.requirement, t.closure) for t in manifest.requirements] == [('top', ['base', 'mid', 'top'])]
    assert os.path.basename(cache['path']) == cache['key']


def test_second_run_with_the_same_inputs_changes_nothing_and_needs_no_index(tmp_path, index, fetched):
    build(tmp_path, index, ['top'])
    shutil.rmtree(index['root'])  # the index is gone: any access would fail
    shutil.rmtree(index['files'])
    del fetched[:]
    changed, (cache,), _diffs = build(tmp_path, index, ['top'])
    assert not changed and not cache['resolved'] and fetched == []


def test_adding_a_requirement_fetches_only_the_new_files(tmp_path, index, fetched):
    build(tmp_path, index, ['top'])
    del fetched[:]
    changed, (cache,), _diffs = build(tmp_path, index, ['top', 'extra'])
    assert changed and cache['added'] == ['extra-1.0-py3-none-any.whl'] and cache['removed'] == []
    assert fetched == ['extra-1.0-py3-none-any.whl']


def test_removing_a_requirement_with_prune_removes_only_what_is_no_longer_needed(tmp_path, index):
    build(tmp_path, index, ['top', 'extra'])
    changed, (cache,), _diffs = build(tmp_path, index, ['mid', 'extra'], prune=True)
    assert changed and cache['removed'] == ['top-1.0-py3-none-any.whl'] and cache['pruned'] == ['top-1.0-py3-none-any.whl']
    assert sorted(os.listdir(cache['path'])) == ['base-1.0-py3-none-any.whl', 'extra-1.0-py3-none-any.whl', 'manifest.json',
                                                 'mid-1.0-py3-none-any.whl']


def test_removing_a_requirement_with_prune_false_keeps_the_file_but_drops_it_from_the_manifest(tmp_path, index):
    build(tmp_path, index, ['top'])
    _changed, (cache,), _diffs = build(tmp_path, index, ['mid'], prune=False)
    assert cache['removed'] == ['top-1.0-py3-none-any.whl'] and cache['pruned'] == []
    assert os.path.exists(os.path.join(cache['path'], 'top-1.0-py3-none-any.whl'))
    assert 'top-1.0-py3-none-any.whl' not in [a.filename for a in load_manifest(cache['path']).artifacts]


def test_by_default_a_cache_is_pruned_to_its_manifest_and_the_manifest_companions(tmp_path, index):
    _c, (first,), _d = build(tmp_path, index, ['top'], pylock=True)
    signature = os.path.join(first['path'], 'manifest.json.sig')
    with open(signature, 'wb') as handle:
        handle.write(b'signature')
    with open(os.path.join(first['path'], 'stray.whl'), 'wb') as handle:
        handle.write(b'x')
    changed, (cache,), _diffs = build(tmp_path, index, ['top'], pylock=True)
    assert changed and cache['pruned'] == ['stray.whl'] and cache['digest'] == first['digest']
    assert sorted(os.listdir(cache['path'])) == ['base-1.0-py3-none-any.whl', 'manifest.json', 'manifest.json.sig',
                                                 'mid-1.0-py3-none-any.whl', 'pylock.toml', 'top-1.0-py3-none-any.whl']


def test_check_mode_reports_the_plan_and_writes_nothing(tmp_path, index):
    _c, (first,), _d = build(tmp_path, index, ['top'])
    before = sha256_file(os.path.join(first['path'], 'manifest.json'))
    changed, (cache,), (diff,) = build(tmp_path, index, ['mid', 'extra'], check_mode=True, prune=True)
    assert changed and cache['added'] == ['extra-1.0-py3-none-any.whl'] and cache['removed'] == ['top-1.0-py3-none-any.whl']
    assert cache['pruned'] == ['top-1.0-py3-none-any.whl'] and cache['digest'] is None
    assert 'top-1.0-py3-none-any.whl' in diff['before'] and 'top-1.0-py3-none-any.whl' not in diff['after']
    assert 'extra-1.0-py3-none-any.whl' in diff['after']
    assert sha256_file(os.path.join(first['path'], 'manifest.json')) == before
    assert sorted(os.listdir(first['path'])) == ['base-1.0-py3-none-any.whl', 'manifest.json', 'mid-1.0-py3-none-any.whl',
                                                 'top-1.0-py3-none-any.whl']


def test_check_mode_on_a_new_dest_creates_nothing(tmp_path, index):
    changed, (cache,), _d = build(tmp_path, index, ['top'], check_mode=True)
    assert changed and len(cache['added']) == 3
    assert not os.path.exists(str(tmp_path / 'cache'))


def test_a_failed_download_leaves_the_previous_cache_and_manifest_intact(tmp_path, index):
    _c, (first,), _d = build(tmp_path, index, ['top'])
    with open(os.path.join(index['files'], 'extra-1.0-py3-none-any.whl'), 'ab') as handle:
        handle.write(b'tampered')  # no longer matches the index's sha256
    with pytest.raises(ResolutionError, match='extra-1.0-py3-none-any.whl .* has sha256'):
        build(tmp_path, index, ['top', 'extra'])
    assert load_manifest(first['path']).digest == first['digest']
    assert 'extra-1.0-py3-none-any.whl' not in os.listdir(first['path'])
    assert [n for n in os.listdir(str(tmp_path / 'cache')) if n.startswith(cache_dir.WORKSPACE_PREFIX)] == []


def test_an_interrupted_commit_leaves_a_manifest_that_still_verifies(tmp_path, index, monkeypatch):
    _c, (first,), _d = build(tmp_path, index, ['top'])
    calls = []

    def interrupted(placer, source, destination):
        calls.append(destination)
        raise KeyboardInterrupt()

    monkeypatch.setattr(cache_dir.Placer, 'place', interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, index, ['top', 'extra'])
    assert calls
    manifest = load_manifest(first['path'])
    assert manifest.digest == first['digest']
    verify_artifacts(first['path'], manifest.artifacts)


def test_a_corrupted_artifact_is_fetched_again_and_reported_as_repaired(tmp_path, index, fetched):
    _c, (first,), _d = build(tmp_path, index, ['top'])
    with open(os.path.join(first['path'], 'mid-1.0-py3-none-any.whl'), 'ab') as handle:
        handle.write(b'x')
    del fetched[:]
    changed, (cache,), _d = build(tmp_path, index, ['top'])
    assert changed and cache['repaired'] == ['mid-1.0-py3-none-any.whl'] and cache['added'] == []
    assert fetched == ['mid-1.0-py3-none-any.whl']
    verify_artifacts(cache['path'], load_manifest(cache['path']).artifacts)


def test_every_package_without_a_wheel_is_listed_per_platform_with_the_tags_that_exist(tmp_path, index):
    make_wheel(index['files'], 'winonly', '2.0', tags='cp313-cp313-win_amd64')
    file_index(index['root'], index['files'])
    with pytest.raises(ResolutionError) as failure:
        build(tmp_path, index, ['native', 'winonly', 'top'], platforms=[ARM39, X86_313])
    missing = sorted((m['package'], m['platform'].split('-')[0]) for m in failure.value.details['missing'])
    assert missing == [('native', 'cp313'), ('winonly', 'cp313'), ('winonly', 'cp39')]
    assert 'cp39-cp39-manylinux_2_17_aarch64' in failure.value.msg and 'cp313-cp313-win_amd64' in failure.value.msg
    assert not os.path.exists(str(tmp_path / 'cache' / 'x')) and not any(
        n for n in os.listdir(str(tmp_path / 'cache')) if not n.startswith('.'))


def test_one_cache_per_platform_each_with_its_own_closure(tmp_path, index):
    make_wheel(index['files'], 'app', '1.0', requires=['extra; python_version < "3.10"'])
    file_index(index['root'], index['files'])
    _c, caches, _d = build(tmp_path, index, ['app'], platforms=[ARM39, X86_313, dict(ARM39, version='3.9.7')])
    assert len(caches) == 2
    assert caches[0]['added'] == ['app-1.0-py3-none-any.whl', 'extra-1.0-py3-none-any.whl']
    assert caches[1]['added'] == ['app-1.0-py3-none-any.whl']


def test_pylock_lists_every_wheel_by_relative_path_and_hash(tmp_path, index):
    _c, (cache,), _d = build(tmp_path, index, ['top'], pylock=True)
    with open(os.path.join(cache['path'], 'pylock.toml'), 'rb') as handle:
        lock = tomllib.load(handle)
    assert lock['lock-version'] == '1.0' and lock['created-by'] == 'airgap.packages.wheel_cache'
    for package in lock['packages']:
        (wheel,) = package['wheels']
        assert wheel['path'].startswith('./')
        assert sha256_file(os.path.join(cache['path'], wheel['path'])) == wheel['hashes']['sha256']
    changed, _caches, _d = build(tmp_path, index, ['top'], pylock=True)
    assert not changed


def test_abandoned_workspaces_of_interrupted_runs_are_removed(tmp_path, index):
    build(tmp_path, index, ['top'])
    leftover = tmp_path / 'cache' / (cache_dir.WORKSPACE_PREFIX + 'old')
    leftover.mkdir()
    (leftover / 'half.whl.part').write_bytes(b'x')
    build(tmp_path, index, ['top', 'extra'])
    assert not leftover.exists()
    # A run that changes nothing tidies them as well, and a cache is not reported current while one is there.
    leftover.mkdir()
    options = wheel_cache.Options(dest=str(tmp_path / 'cache'), requirements=['top', 'extra'], index_url=index['url'],
                                  platforms=[ARM39])
    assert wheel_cache.current_report(options) is None and wheel_cache.current_report(options, check_mode=True) is not None
    changed, _caches, _diffs = build(tmp_path, index, ['top', 'extra'])
    assert not changed and not leftover.exists() and wheel_cache.current_report(options) is not None


# ---------------------------------------------------------------- inputs

def test_requirements_files_follow_includes_constraints_and_hash_pins(tmp_path):
    (tmp_path / 'base.txt').write_text('mid>=1  # a comment\n')
    (tmp_path / 'cons.txt').write_text('base<2\n')
    (tmp_path / 'req.txt').write_text('-r base.txt\n-c cons.txt\n# only a comment\n'
                                      'top==1.0 \\\n    --hash=sha256:' + 'A' * 64 + '\n\nextra[x]; python_version<"4"\n')
    inputs = wheel_cache.Inputs()
    wheel_cache.read_requirement_file(str(tmp_path / 'req.txt'), inputs)
    assert [text for text, _o in inputs.requirements] == ['mid>=1', 'top==1.0', 'extra[x]; python_version<"4"']
    assert [text for text, _o in inputs.constraints] == ['base<2']
    assert inputs.hashes == {'top': {'a' * 64}}
    assert inputs.requirements[1][1] == '%s:4' % (tmp_path / 'req.txt')


def test_index_options_inside_requirements_files_are_refused(tmp_path):
    (tmp_path / 'req.txt').write_text('--extra-index-url https://elsewhere.invalid/simple\nlib\n')
    with pytest.raises(ResolutionError, match="req.txt:1: option '--extra-index-url' is not supported"):
        wheel_cache.read_requirement_file(str(tmp_path / 'req.txt'), wheel_cache.Inputs())


def test_a_hash_pin_that_does_not_match_fails_before_anything_is_written(tmp_path, index):
    (tmp_path / 'req.txt').write_text('top --hash=sha256:' + '0' * 64 + '\n')
    opts = wheel_cache.Options(dest=str(tmp_path / 'cache'), requirements_files=[str(tmp_path / 'req.txt')],
                               index_url=index['url'], platforms=[ARM39])
    with pytest.raises(ResolutionError, match='hash pins .* do not match: top'):
        wheel_cache.build_caches(opts)
    assert not any(n for n in os.listdir(str(tmp_path / 'cache')) if not n.startswith('.'))


def test_pip_configuration_is_read_from_files_then_environment(tmp_path):
    conf = tmp_path / 'pip.conf'
    conf.write_text('[global]\nindex-url = https://a.invalid/simple\nextra-index-url = https://b.invalid/simple\n'
                    '    https://c.invalid/simple\n[download]\nfind-links = /opt/wheels\n')
    env = {'PIP_CONFIG_FILE': str(conf), 'HOME': str(tmp_path), 'XDG_CONFIG_DIRS': str(tmp_path / 'none'),
           'PIP_CONSTRAINT': '/tmp/c.txt'}
    config = wheel_cache.pip_configuration(env)
    assert config['index_url'] == 'https://a.invalid/simple'
    assert config['extra_index_urls'] == ['https://b.invalid/simple', 'https://c.invalid/simple']
    assert config['find_links'] == ['/opt/wheels'] and config['constraints'] == ['/tmp/c.txt']


def test_pip_subprocesses_see_no_ambient_pip_configuration_unless_asked(monkeypatch):
    monkeypatch.setenv('PIP_FIND_LINKS', '/opt/wheels')
    monkeypatch.setenv('PIP_INDEX_URL', 'file:///opt/pypi/simple')
    env = wheel_cache.pip_environment(use_pip_config=False)
    assert env['PIP_CONFIG_FILE'] == os.devnull
    assert 'PIP_FIND_LINKS' not in env and 'PIP_INDEX_URL' not in env
    assert wheel_cache.pip_environment(use_pip_config=True)['PIP_FIND_LINKS'] == '/opt/wheels'


def test_ambient_pip_find_links_are_ignored_by_default(tmp_path, index, monkeypatch):
    ambient = str(tmp_path / 'ambient')
    make_wheel(ambient, 'sneaky', '1.0')
    monkeypatch.setenv('PIP_FIND_LINKS', ambient)
    with pytest.raises(ResolutionError, match='no project named sneaky'):
        build(tmp_path, index, ['sneaky'])
    _c, (cache,), _d = build(tmp_path, index, ['sneaky'], use_pip_config=True)
    assert cache['added'] == ['sneaky-1.0-py3-none-any.whl']


def test_include_installers_adds_pip_setuptools_and_wheel(tmp_path, index):
    for name in ('pip', 'setuptools', 'wheel'):
        make_wheel(index['files'], name, '1.0')
    file_index(index['root'], index['files'])
    _c, (cache,), _d = build(tmp_path, index, ['base'], include_installers=True)
    assert [t.name for t in load_manifest(cache['path']).requirements] == ['base', 'pip', 'setuptools', 'wheel']


# ---------------------------------------------------------------- current_report: the no-op, answered without a build

def options(tmp_path, index, requirements, platforms=(ARM39,), **extra):
    return wheel_cache.Options(dest=str(tmp_path / 'cache'), requirements=list(requirements), index_url=index['url'],
                               platforms=list(platforms), **extra)


def contents(directory):
    return dict((name, open(os.path.join(directory, name), 'rb').read()) for name in sorted(os.listdir(directory)))


def test_a_current_cache_is_reported_exactly_as_the_build_reports_its_no_op(tmp_path, index):
    opts = options(tmp_path, index, ['top', 'extra'], platforms=[ARM39, X86_313], prune=True, pylock=True)
    wheel_cache.build_caches(opts)
    noop = wheel_cache.build_caches(opts)
    checked = wheel_cache.build_caches(opts, check_mode=True)
    shutil.rmtree(index['root'])  # the answer comes from the caches alone
    assert noop[0] is False
    assert wheel_cache.current_report(opts) == noop == checked
    assert wheel_cache.module_result(noop, want_diff=True) == {'changed': False, 'caches': noop[1], 'builds': [], 'diff': noop[2]}


def test_changed_requirements_are_not_current(tmp_path, index):
    wheel_cache.build_caches(options(tmp_path, index, ['top']))
    assert wheel_cache.current_report(options(tmp_path, index, ['top', 'extra'])) is None


def test_refresh_is_never_current(tmp_path, index):
    wheel_cache.build_caches(options(tmp_path, index, ['top']))
    assert wheel_cache.current_report(options(tmp_path, index, ['top'], refresh=True)) is None


@pytest.mark.parametrize('damage', ['altered', 'truncated', 'missing'])
def test_a_damaged_file_is_not_current_and_is_left_for_the_build_to_repair(tmp_path, index, damage):
    opts = options(tmp_path, index, ['top'])
    _c, (cache,), _d = wheel_cache.build_caches(opts)
    path = os.path.join(cache['path'], 'mid-1.0-py3-none-any.whl')
    if damage == 'missing':
        os.unlink(path)
    else:
        with open(path, 'r+b') as handle:
            size = len(handle.read())
            handle.seek(0)
            handle.write(b'\0' * (size if damage == 'altered' else 10))
            handle.truncate()
    before = contents(cache['path'])
    assert wheel_cache.current_report(opts) is None
    assert contents(cache['path']) == before


def test_a_missing_manifest_or_dest_is_not_current_and_nothing_is_created(tmp_path, index):
    opts = options(tmp_path, index, ['top'])
    assert wheel_cache.current_report(opts) is None
    assert not os.path.exists(opts.dest)
    _c, (cache,), _d = wheel_cache.build_caches(opts)
    os.unlink(os.path.join(cache['path'], 'manifest.json'))
    assert wheel_cache.current_report(opts) is None


def test_a_file_to_prune_or_a_pylock_to_rewrite_is_not_current(tmp_path, index):
    opts = options(tmp_path, index, ['top'], prune=True, pylock=True)
    _c, (cache,), _d = wheel_cache.build_caches(opts)
    stray = os.path.join(cache['path'], 'stray-1.0-py3-none-any.whl')
    with open(stray, 'wb') as handle:
        handle.write(b'not listed')
    assert wheel_cache.current_report(opts) is None
    os.unlink(stray)
    os.unlink(os.path.join(cache['path'], 'pylock.toml'))
    assert wheel_cache.current_report(opts) is None
    assert wheel_cache.current_report(options(tmp_path, index, ['top'])) is not None


def test_the_answer_waits_for_a_build_that_holds_the_cache_lock(tmp_path, index):
    opts = options(tmp_path, index, ['top'])
    _c, (cache,), _d = wheel_cache.build_caches(opts)
    answers = []
    with environment_lock(cache['path']):
        reader = threading.Thread(target=lambda: answers.append(wheel_cache.current_report(opts)))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and answers == []
    reader.join(10)
    assert answers and answers[0][0] is False


@pytest.mark.parametrize('options, message', [
    ({'requirements': []}, 'nothing to build'),
    ({'requirements': ['six'], 'index_url': 'not a url'}, "index_url 'not a url' is not an index URL"),
    ({'requirements': ['six'], 'extra_index_urls': ['ftp://mirror/simple']}, 'extra_index_urls'),
    ({'requirements': ['six'], 'index_url': 'https://user:secret@/simple'}, 'is not an index URL'),
])
def test_inputs_that_cannot_make_a_cache_are_refused_naming_the_option(tmp_path, options, message):
    with pytest.raises(ResolutionError, match=message) as raised:
        wheel_cache.build_caches(wheel_cache.Options(dest=str(tmp_path / 'cache'), **options))
    assert 'secret' not in raised.value.msg


@pytest.mark.parametrize('platform, message', [
    ({'version': '3.11', 'arch': 'x86_64', 'libc': 'glibc'}, 'libc must be a dict'),
    ({'version': 3.11, 'arch': 'x86_64'}, 'version must be a string'),
    ({'version': '3.11', 'arch': ['x86_64']}, 'arch must be a string'),
    ('cp311', 'must be a dict'),
])
def test_a_malformed_platform_description_is_refused_naming_the_field(tmp_path, platform, message):
    with pytest.raises(AirgapError, match=message):
        wheel_cache.build_caches(wheel_cache.Options(dest=str(tmp_path / 'cache'), requirements=['six'],
                                                     index_url='file:///nowhere', platforms=[platform]))
