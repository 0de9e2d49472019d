# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import gzip
import io
import json
import os
import tarfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.ruby import gem_target
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError, InstallError, VerificationError
from ansible_collections.airgap.packages.plugins.module_utils._target.ruby.gem_offline import GemOffline, GemOfflineRequest
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, TopLevel, sha256_file, write_manifest

GEMS = {
    # name: (version, requires, native)
    'chain_a': ('1.0.0', ['chain_b (~> 1.0)'], False),
    'chain_b': ('1.1.0', ['chain_c (>= 0.5)'], False),
    'chain_c': ('0.5.0', [], False),
    'native': ('1.0.0', [], True),
}


class FakeRuby:
    """Stands in for ruby and gem: the probe reads specifications/ of the real directory,
    install writes spec + gem dir into the staging root, uninstall removes them."""

    def __init__(self, fail=()):
        self.fail = set(fail)
        self.calls = []

    def gem_runs(self):
        return [argv for argv in self.calls if 'install' in argv or (argv[1] == '-e' and argv[2] == gem_target.ruby_program(gem_target.UNINSTALL))]

    def __call__(self, argv, env, cwd=None):
        self.calls.append(list(argv))
        if argv[1:3] == ['-e', gem_target.ruby_program(gem_target.PROBE)]:
            return self.probe(argv[4])
        if argv[1:3] == ['-e', gem_target.ruby_program(gem_target.UNINSTALL)]:
            install_dir, names = argv[3], argv[5:]
            for full in names:
                os.unlink(os.path.join(install_dir, 'specifications', full + '.gemspec'))
                os.rmdir(os.path.join(install_dir, 'gems', full))
            return 0, '', ''
        root = argv[argv.index('--install-dir') + 1]
        errors = []
        for path in (a for a in argv if a.endswith('.gem')):
            full = os.path.basename(path)[:-4]
            os.makedirs(os.path.join(root, 'gems', full))
            if full.split('-')[0] in self.fail:
                errors.append('ERROR:  Error installing %s:\n\tERROR: Failed to build gem native extension.\n' % path)
                continue
            os.makedirs(os.path.join(root, 'specifications'), exist_ok=True)
            open(os.path.join(root, 'specifications', full + '.gemspec'), 'w').close()
        return (1 if errors else 0), '', ''.join(errors)

    def probe(self, directory):
        installed = []
        specs = os.path.join(directory, 'specifications')
        for name in sorted(os.listdir(specs)) if os.path.isdir(specs) else []:
            full = name[:-len('.gemspec')]
            gem_name, version = full.rsplit('-', 1)
            requires = [r.split()[0] for r in GEMS.get(gem_name, ('', [], False))[1]]
            installed.append({'name': gem_name, 'version': version, 'platform': 'ruby', 'full_name': full, 'extensions': False,
                              'missing_extensions': False, 'requires': requires})
        return 0, json.dumps({
            'ruby': '3.1.2', 'rubygems': '3.3.15', 'local_platform': 'x86_64-linux', 'api_version': '3.1.0', 'engine': 'ruby',
            'gem_dir': directory, 'bindir': os.path.join(directory, 'bin'),
            'platforms': ['ruby', 'x86_64-linux'], 'fits': {'ruby': True}, 'default_gems': ['json'], 'installed': installed,
            'unreadable': [], 'cc': 'cc', 'make': 'make', 'headers': [['/ruby.h', True]]}), ''


def gem_bytes(name, version, platform='ruby', files=None, spec_name=None, spec_version=None):
    """A .gem as RubyGems lays it out: a plain tar of metadata.gz (the YAML specification) and data.tar.gz."""
    spec = ('--- !ruby/object:Gem::Specification\nname: %s\nversion: !ruby/object:Gem::Version\n  version: %s\n'
            'platform: %s\nauthors:\n- tests\ndependencies:\n- !ruby/object:Gem::Dependency\n  name: other\n'
            '  requirement: !ruby/object:Gem::Requirement\n    requirements:\n    - - ">="\n      - !ruby/object:Gem::Version\n'
            '        version: \'0\'\n' % (spec_name or name, spec_version or version, platform))
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode='w:gz') as payload:
        for member, content in sorted((files or {'lib/%s.rb' % name: b'module X; end\n'}).items()):
            info = tarfile.TarInfo(member)
            if isinstance(content, tarfile.TarInfo):
                info = content
            else:
                info.size = len(content)
            payload.addfile(info, io.BytesIO(content) if not isinstance(content, tarfile.TarInfo) else None)
    gem = io.BytesIO()
    with tarfile.open(fileobj=gem, mode='w') as archive:
        for member, content in (('metadata.gz', gzip.compress(spec.encode())), ('data.tar.gz', data.getvalue())):
            info = tarfile.TarInfo(member)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return gem.getvalue()


@pytest.fixture
def env(tmp_path):
    """A cache of the four GEMS, a gem program, and PATH with a compiler and make."""
    cache = tmp_path / 'cache'
    cache.mkdir()
    artifacts = []
    for name, (version, requires, native) in sorted(GEMS.items()):
        path = cache / ('%s-%s.gem' % (name, version))
        path.write_bytes(gem_bytes(name, version))
        artifacts.append(Artifact(path.name, name, version, path.stat().st_size, sha256_file(str(path)), 'ruby', requires, '', False, native))
    tops = [TopLevel('chain_a', 'chain_a', ['chain_a', 'chain_b', 'chain_c']), TopLevel('native', 'native', ['native'])]
    write_manifest(str(cache), Manifest('ruby', {'key': 'ruby-3.1-x86_64-linux'}, tops, artifacts))
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    for tool in ('ruby', 'cc', 'make'):
        (bindir / tool).write_text('#!/bin/sh\n')
        (bindir / tool).chmod(0o755)
    (bindir / 'gem').write_text('#!/usr/bin/env ruby\n')
    (bindir / 'gem').chmod(0o755)
    return {'cache': str(cache), 'install_dir': str(tmp_path / 'gems'), 'environ': {'PATH': str(bindir)}}


def run_with(env, fake, check_mode=False, **options):
    request = GemOfflineRequest(cache=env['cache'], install_dir=options.pop('install_dir', env['install_dir']), **options)
    offline = GemOffline(request, environ=env['environ'], check_mode=check_mode, runner=fake)
    result = offline.run()
    return result, offline


def run(env, fake, check_mode=False, **options):
    return run_with(env, fake, check_mode, **options)[0]


def test_first_run_installs_the_closure_in_one_gem_run_dependencies_first(env):
    fake = FakeRuby()
    result = run(env, fake)
    assert result['changed'] is True
    assert [(c['name'], c['action']) for c in result['changes']] == [
        ('chain_a', 'install'), ('chain_b', 'install'), ('chain_c', 'install'), ('native', 'install')]
    installs = fake.gem_runs()
    assert len(installs) == 1
    assert [os.path.basename(a) for a in installs[0] if a.endswith('.gem')] == [
        'chain_c-0.5.0.gem', 'chain_b-1.1.0.gem', 'chain_a-1.0.0.gem', 'native-1.0.0.gem']
    assert sorted(os.listdir(os.path.join(env['install_dir'], 'specifications'))) == [
        'chain_a-1.0.0.gemspec', 'chain_b-1.1.0.gemspec', 'chain_c-0.5.0.gemspec', 'native-1.0.0.gemspec']
    assert not [n for n in os.listdir(env['install_dir']) if n.startswith(gem_target.STAGING_PREFIX)]


def test_converged_install_dir_reports_no_change_without_running_gem(env):
    run(env, FakeRuby())
    fake = FakeRuby()
    result = run(env, fake)
    assert result['changed'] is False and result['changes'] == []
    assert fake.gem_runs() == [] and len(fake.calls) == 1
    assert [g['action'] for g in result['gems']] == ['none'] * 4
    assert len(result['verified']) == 4


def test_check_mode_returns_the_plan_and_touches_nothing(env):
    fake = FakeRuby()
    result, offline = run_with(env, fake, check_mode=True, gems=['native'])
    assert result['changed'] is True
    assert result['changes'] == [{'name': 'native', 'action': 'install', 'before': None, 'after': '1.0.0'}]
    assert fake.gem_runs() == [] and not os.path.exists(env['install_dir'])
    assert offline.diff['after'] == 'native 1.0.0\n' and offline.diff['before'] == ''


def test_drift_repair_installs_only_the_missing_gem(env):
    run(env, FakeRuby())
    os.unlink(os.path.join(env['install_dir'], 'specifications', 'chain_b-1.1.0.gemspec'))
    fake = FakeRuby()
    result, offline = run_with(env, fake)
    assert result['changes'] == [{'name': 'chain_b', 'action': 'install', 'before': None, 'after': '1.1.0'}]
    assert [os.path.basename(a) for a in fake.gem_runs()[0] if a.endswith('.gem')] == ['chain_b-1.1.0.gem']
    assert offline.diff == {'before': '', 'after': 'chain_b 1.1.0\n', 'before_header': env['install_dir'], 'after_header': env['install_dir']}


def test_other_version_is_replaced_by_the_pinned_one(env):
    run(env, FakeRuby())
    specs = os.path.join(env['install_dir'], 'specifications')
    os.unlink(os.path.join(specs, 'chain_c-0.5.0.gemspec'))
    open(os.path.join(specs, 'chain_c-0.4.0.gemspec'), 'w').close()
    os.makedirs(os.path.join(env['install_dir'], 'gems', 'chain_c-0.4.0'))
    fake = FakeRuby()
    result, offline = run_with(env, fake)
    assert result['changes'] == [{'name': 'chain_c', 'action': 'upgrade', 'before': '0.4.0', 'after': '0.5.0'}]
    assert offline.diff['before'] == 'chain_c 0.4.0\n' and offline.diff['after'] == 'chain_c 0.5.0\n'
    assert fake.gem_runs()[-1][5:] == ['chain_c-0.4.0']
    assert 'chain_c-0.4.0.gemspec' not in os.listdir(specs)


def test_altered_gem_stops_before_gem_runs_naming_file_and_hashes(env):
    path = os.path.join(env['cache'], 'chain_b-1.1.0.gem')
    data = bytearray(open(path, 'rb').read())
    data[10] ^= 0x01
    open(path, 'wb').write(bytes(data))
    fake = FakeRuby()
    with pytest.raises(VerificationError) as info:
        run(env, fake)
    assert path in info.value.msg and 'expected' in info.value.msg
    assert info.value.details['problems'][0]['problem'] == 'sha256 mismatch'
    assert fake.gem_runs() == [] and not os.path.exists(env['install_dir'])


@pytest.mark.parametrize('check_mode', [False, True])
def test_gem_whose_specification_is_another_gem_stops_before_gem_runs(env, check_mode):
    path = os.path.join(env['cache'], 'chain_c-0.5.0.gem')
    with open(path, 'wb') as handle:
        handle.write(gem_bytes('chain_c', '0.5.0', spec_name='evil', spec_version='6.6.6'))
    manifest_file = os.path.join(env['cache'], 'manifest.json')
    with open(manifest_file) as handle:
        data = json.load(handle)
    for artifact in data['artifacts']:
        if artifact['filename'] == 'chain_c-0.5.0.gem':
            artifact['size'], artifact['sha256'] = os.path.getsize(path), sha256_file(path)
    with open(manifest_file, 'w') as handle:
        json.dump(data, handle)
    fake = FakeRuby()
    with pytest.raises(VerificationError) as info:
        run(env, fake, check_mode=check_mode)
    assert '%s: member metadata.gz is the specification of evil 6.6.6' % path in info.value.msg
    assert fake.gem_runs() == [] and not os.path.exists(env['install_dir'])


def test_verification_failure_is_reported_in_check_mode_too(env):
    os.unlink(os.path.join(env['cache'], 'chain_c-0.5.0.gem'))
    with pytest.raises(VerificationError, match='chain_c-0.5.0.gem: missing'):
        run(env, FakeRuby(), check_mode=True)


def test_failed_build_leaves_nothing_installed(env):
    fake = FakeRuby(fail=['native'])
    with pytest.raises(InstallError) as info:
        run(env, fake)
    assert info.value.details['failed_files'] == [os.path.join(env['cache'], 'native-1.0.0.gem')]
    assert os.listdir(env['install_dir']) == []


def test_failed_build_keeps_the_previous_install_untouched(env):
    run(env, FakeRuby(), gems=['chain_a'])
    before = sorted(os.listdir(os.path.join(env['install_dir'], 'gems')))
    with pytest.raises(InstallError):
        run(env, FakeRuby(fail=['native']))
    assert sorted(os.listdir(os.path.join(env['install_dir'], 'gems'))) == before


def test_missing_compiler_stops_before_gem_runs(env):
    os.unlink(os.path.join(env['environ']['PATH'], 'cc'))
    fake = FakeRuby()
    with pytest.raises(VerificationError, match='cannot build the native extensions of native-1.0.0.gem.*C compiler cc'):
        run(env, fake, gems=['native'])
    assert fake.gem_runs() == []


def test_compiler_is_not_needed_for_gems_without_extensions(env):
    os.unlink(os.path.join(env['environ']['PATH'], 'cc'))
    result = run(env, FakeRuby(), gems=['chain_a'])
    assert result['changed'] is True


def test_absent_removes_the_selected_gems(env):
    run(env, FakeRuby())
    result = run(env, FakeRuby(), state='absent', gems=['native'])
    assert result['changes'] == [{'name': 'native', 'action': 'remove', 'before': '1.0.0', 'after': None}]
    assert 'native-1.0.0.gemspec' not in os.listdir(os.path.join(env['install_dir'], 'specifications'))


def test_absent_does_not_need_a_valid_cache_file(env):
    run(env, FakeRuby())
    os.unlink(os.path.join(env['cache'], 'native-1.0.0.gem'))
    result = run(env, FakeRuby(), state='absent', gems=['native'])
    assert result['changed'] is True and result['verified'] == []


def test_sync_with_absent_is_refused(env):
    with pytest.raises(AirgapError, match='only applies to state=present'):
        run(env, FakeRuby(), state='absent', sync=True)


def test_sync_removes_an_unlisted_gem(env):
    run(env, FakeRuby())
    specs = os.path.join(env['install_dir'], 'specifications')
    open(os.path.join(specs, 'stray-9.gemspec'), 'w').close()
    os.makedirs(os.path.join(env['install_dir'], 'gems', 'stray-9'))
    assert run(env, FakeRuby())['changed'] is False
    result = run(env, FakeRuby(), sync=True)
    assert result['changes'] == [{'name': 'stray', 'action': 'remove', 'before': '9', 'after': None}]
    assert 'stray-9.gemspec' not in os.listdir(specs)


def test_apply_takes_the_lock_beside_the_install_dir(env):
    run(env, FakeRuby())
    parent, name = os.path.split(env['install_dir'])
    assert os.path.exists(os.path.join(parent, '.%s.airgap-lock' % name))


def test_stale_staging_from_a_killed_run_is_removed(env):
    stale = os.path.join(env['install_dir'], gem_target.STAGING_PREFIX + 'killed')
    os.makedirs(os.path.join(stale, 'root', 'gems', 'x-1'))
    run(env, FakeRuby())
    assert not os.path.exists(stale)


def test_unwritable_install_dir_is_an_error_that_says_what_to_do(env, monkeypatch):
    def refuse(parent, prefix):
        raise OSError(13, 'Permission denied', parent)

    monkeypatch.setattr('ansible_collections.airgap.packages.plugins.module_utils._target.ruby.gem_offline.private_tempdir', refuse)
    with pytest.raises(InstallError, match='cannot change .*gems: Permission denied .*Run as a user who may write there'):
        run(env, FakeRuby())
