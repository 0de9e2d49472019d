# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pip_offline's logic with a fake target: plans, verification, installer choice, confirmation."""

import base64
import hashlib
import io
import json
import os
import shutil
import zipfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.python import pip_offline

from ansible_collections.airgap.packages.plugins.module_utils._target.python import python_env

from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import interpreter_probe

from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import script_source, wheeltags
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError, InstallError, ManifestError, VerificationError
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact, Manifest, TopLevel, sha256_file, write_manifest)

SUPPORTED = ['cp311-cp311-manylinux_2_17_x86_64', 'cp311-abi3-manylinux_2_17_x86_64', 'py3-none-manylinux_2_17_x86_64',
             'py3-none-any']
WHEELTAGS = script_source(wheeltags) + '\n\ndef supported_tags():\n    return %r\n' % SUPPORTED


def wheel_bytes(filename, members=None, record=True):
    """A minimal sound wheel for its file name (name-version-tags.whl): a module, METADATA, WHEEL and a RECORD of them."""
    parts = filename[:-4].split('-')
    dist, version = parts[0], parts[1]
    info = '%s-%s.dist-info' % (dist, version)
    files = {
        '%s/__init__.py' % dist.lower(): ('VERSION = %r\n' % version).encode(),
        '%s/METADATA' % info: ('Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (dist, version)).encode(),
        '%s/WHEEL' % info: b'Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n',
    }
    files.update(members or {})
    if record:
        rows = ['%s,sha256=%s,%d' % (m, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode(), len(d))
                for m, d in sorted(files.items())]
        files['%s/RECORD' % info] = ('\n'.join(rows + ['%s/RECORD,,' % info]) + '\n').encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        for member, data in sorted(files.items()):
            archive.writestr(member, data)
    return buffer.getvalue()


def wheel(cache, filename, content=None):
    path = os.path.join(str(cache), filename)
    with open(path, 'wb') as handle:
        handle.write(content if content is not None else wheel_bytes(filename))
    parts = filename[:-4].split('-')
    return Artifact(filename, parts[0].replace('_', '-'), parts[1], os.path.getsize(path), sha256_file(path),
                    platform='-'.join(parts[-3:]))


def make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'lib-2.0-py3-none-any.whl', 'pip-26.3-py3-none-any.whl'),
               tops=(('app', ['app', 'lib']),), requirement=None):
    """A cache of files; tops are (name, closure); requirement is the first top's text as the user wrote it."""
    cache = tmp_path / 'cache'
    cache.mkdir(parents=True)
    artifacts = [wheel(cache, f) for f in files]
    requirements = [TopLevel(requirement if requirement and index == 0 else name, name, closure)
                    for index, (name, closure) in enumerate(tops)]
    manifest = Manifest('python', {'key': 'k'}, requirements, artifacts)
    write_manifest(str(cache), manifest)
    return cache


class FakeTarget:
    """A target interpreter: answers the probe from `installed`, records installer commands and applies them."""

    def __init__(self, installed=None, externally_managed=False, check_rc=0, apply=True, outside=None):
        self.installed = dict(installed or {})
        self.outside = dict(outside or {})
        self.externally_managed = externally_managed
        self.check_rc = check_rc
        self.apply = apply
        self.commands = []
        self.requirements = []

    def installer_commands(self):
        """argv of every installer run; a pip install+check driver run is shown as its install arguments."""
        shown = []
        for command in self.commands:
            if command[0] == 'probe':
                continue
            if len(command) > 6 and command[3] == pip_offline.PIP_DRIVER:
                command = command[:1] + ['<driver:%s>' % command[4]] + json.loads(command[5])
            shown.append(command)
        return shown

    def __call__(self, argv, data=None, cwd=None):
        if len(argv) > 3 and argv[1:3] == ['-I', '-c'] and 'def describe(request)' in argv[3]:
            request = json.loads(data)
            self.commands.append(('probe', argv[0], 'wheeltags_source' in request))
            answer = {
                'executable': argv[0], 'version': '3.11.2', 'implementation': 'cpython', 'prefix': '/venv',
                'in_venv': True, 'purelib': '/venv/lib/site-packages', 'platlib': '/venv/lib/site-packages',
                'externally_managed': self.externally_managed,
                'distributions': [{'name': n, 'version': v, 'path': '/venv/lib/site-packages/%s' % n, 'in_environment': True}
                                  for n, v in sorted(self.installed.items())]
                + [{'name': n, 'version': v, 'path': '/usr/lib/python3/dist-packages/%s' % n, 'in_environment': False}
                   for n, v in sorted(self.outside.items())],
                'has_venv': True, 'has_ensurepip': False,
            }
            if 'wheeltags_source' in request:
                answer['tags'] = interpreter_probe.tag_report(WHEELTAGS, request['filenames'])
            return 0, json.dumps(answer), ''
        self.commands.append(list(argv))
        if len(argv) > 6 and argv[3] == pip_offline.PIP_DRIVER:
            rc, out, err = self(argv[:1] + json.loads(argv[5]))
            if rc:
                return rc, out, err
            rc, out, err = self(argv[:1] + json.loads(argv[6]))
            return (86 if rc else 0), '\n%s\n%s' % (pip_offline.CHECK_MARK, out), err
        if 'check' in argv:
            return self.check_rc, 'broken: app needs lib' if self.check_rc else 'ok', ''
        if 'uninstall' in argv and self.apply:
            words = argv[argv.index('uninstall') + 1:]
            for index, word in enumerate(words):
                if not word.startswith('-') and words[index - 1] != '--python':
                    self.installed.pop(word, None)
        if 'install' in argv and '-r' in argv and self.apply:
            with open(argv[argv.index('-r') + 1]) as handle:
                lines = handle.read().splitlines()
            self.requirements.append(lines)
            for line in lines:
                name, version = line.split(' ')[0].split('==')
                self.installed[name] = version
        return 0, '', ''


def run(cache, target, **options):
    options.setdefault('virtualenv', '/nonexistent-for-tests/venv')
    options.setdefault('tmpdir', str(cache.parent))
    request = pip_offline.Request(str(cache), **options)
    return pip_offline.PipOffline(request, runner=target).run()


@pytest.fixture
def existing_venv(monkeypatch):
    monkeypatch.setattr(python_env, 'is_virtualenv', lambda path: True)
    monkeypatch.setattr(pip_offline, 'environment_lock', _no_lock)


class _no_lock:
    def __init__(self, target):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_converged_venv_reports_no_change_without_running_pip(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '2.0', 'pip': '26.3'})
    result = run(make_cache(tmp_path), target)
    assert result['changed'] is False and result['changes'] == []
    assert target.installer_commands() == []
    assert result['verified'] == []  # a no-op reads no wheel


def test_converged_environment_is_checked_for_tags_in_its_one_probe(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '2.0'})
    assert run(make_cache(tmp_path), target)['changed'] is False
    assert [c[2] for c in target.commands if c[0] == 'probe'] == [True]


def test_converged_environment_refuses_a_cache_for_another_interpreter_naming_the_tags(tmp_path, existing_venv):
    cache = make_cache(tmp_path, files=('app-1.0-cp39-cp39-manylinux_2_17_x86_64.whl', 'lib-2.0-py3-none-any.whl'))
    target = FakeTarget({'app': '1.0', 'lib': '2.0'})
    with pytest.raises(VerificationError) as caught:
        run(cache, target, check_mode=True)
    assert 'cp39-cp39-manylinux_2_17_x86_64' in caught.value.msg and 'cp311-cp311-manylinux_2_17_x86_64' in caught.value.msg


@pytest.mark.parametrize('field, value, named', [('version', '3.9', 'Python 3.9'), ('arch', 'aarch64', 'aarch64'),
                                                 ('implementation', 'pypy', 'pypy')])
def test_cache_built_for_another_interpreter_is_refused_even_when_its_wheels_are_pure(tmp_path, existing_venv, field, value,
                                                                                      named):
    cache = make_cache(tmp_path)
    manifest = pip_offline.load_manifest(str(cache))
    manifest.environment.update({'version': '3.11', 'implementation': 'cpython', 'arch': 'x86_64'})
    manifest.environment[field] = value
    write_manifest(str(cache), manifest)
    for installed in ({'app': '1.0', 'lib': '2.0'}, {}):
        with pytest.raises(VerificationError) as caught:
            run(cache, FakeTarget(installed))
        assert named in caught.value.msg and 'cp311-cp311-manylinux_2_17_x86_64' in caught.value.msg


def test_cache_built_for_this_interpreter_passes_the_environment_check(tmp_path, existing_venv):
    cache = make_cache(tmp_path)
    manifest = pip_offline.load_manifest(str(cache))
    manifest.environment.update({'version': '3.11.2', 'implementation': 'CPython', 'arch': 'amd64'})
    write_manifest(str(cache), manifest)
    assert run(cache, FakeTarget({'app': '1.0', 'lib': '2.0'}))['changed'] is False


def test_drift_in_an_existing_environment_is_still_checked_for_tags(tmp_path, existing_venv):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'lib-2.0-cp311-cp311-win_amd64.whl'))
    target = FakeTarget({'app': '1.0'})
    with pytest.raises(VerificationError) as caught:
        run(cache, target)
    assert 'cp311-cp311-win_amd64' in caught.value.msg and target.installer_commands() == []


def test_drifted_package_is_the_only_one_installed(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'pip': '26.3'})
    result = run(make_cache(tmp_path), target)
    assert result['changes'] == [{'name': 'lib', 'action': 'install', 'before': None, 'after': '2.0'}]
    assert [line.split(' ')[0] for line in target.requirements[0]] == ['lib==2.0']
    assert result['installer'] == 'pip'
    assert result['verified'] == ['lib-2.0-py3-none-any.whl']


def test_other_version_installed_by_hand_is_downgraded_alone(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '3.1', 'pip': '26.3'})
    result = run(make_cache(tmp_path), target)
    assert result['changes'] == [{'name': 'lib', 'action': 'downgrade', 'before': '3.1', 'after': '2.0'}]


def test_requirements_are_pinned_and_hash_checked_and_only_planned_files_are_linked(tmp_path, existing_venv):
    cache = make_cache(tmp_path)
    (cache / 'lib-9.9-py3-none-any.whl').write_bytes(b'not in the manifest')
    seen = {}

    class Spy(FakeTarget):
        def __call__(self, argv, data=None, cwd=None):
            if 'install' in argv and '-r' in argv:
                seen['links'] = sorted(os.listdir(argv[argv.index('--find-links') + 1]))
                seen['argv'] = argv
            return FakeTarget.__call__(self, argv, data, cwd)

    target = Spy({'pip': '26.3'})
    run(cache, target, installer='pip')
    assert seen['links'] == ['app-1.0-py3-none-any.whl', 'lib-2.0-py3-none-any.whl']
    for option in ('--isolated', '--no-index', '--no-deps', '--require-hashes', '--only-binary'):
        assert option in seen['argv']
    assert all('--hash=sha256:' in line for line in target.requirements[0])


def test_check_mode_returns_the_plan_and_runs_nothing(tmp_path):
    target = FakeTarget()
    venv = tmp_path / 'venv'
    result = run(make_cache(tmp_path), target, virtualenv=str(venv), check_mode=True)
    assert result['changed'] is True and result['virtualenv_created'] is True
    assert [(c['name'], c['action']) for c in result['changes']] == [('app', 'install'), ('lib', 'install'), ('pip', 'install')]
    assert target.installer_commands() == []
    assert not venv.exists()
    assert result['diff']['after'] == 'app 1.0\nlib 2.0\npip 26.3\n'


def test_flipped_byte_stops_before_anything_runs(tmp_path):
    cache = make_cache(tmp_path)
    path = cache / 'lib-2.0-py3-none-any.whl'
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    target = FakeTarget()
    venv = tmp_path / 'venv'
    with pytest.raises(VerificationError) as caught:
        run(cache, target, virtualenv=str(venv))
    assert 'lib-2.0-py3-none-any.whl' in caught.value.msg and 'sha256' in caught.value.msg
    assert caught.value.details['problems'][0]['actual_sha256'] != caught.value.details['problems'][0]['expected_sha256']
    assert target.installer_commands() == [] and not venv.exists()


def test_truncated_and_missing_files_are_named_with_sizes(tmp_path):
    cache = make_cache(tmp_path)
    (cache / 'lib-2.0-py3-none-any.whl').write_bytes(b'x')
    os.unlink(str(cache / 'app-1.0-py3-none-any.whl'))
    with pytest.raises(VerificationError) as caught:
        run(cache, FakeTarget(), virtualenv=str(tmp_path / 'venv'))
    problems = dict((os.path.basename(p['file']), p['problem']) for p in caught.value.details['problems'])
    assert problems == {'app-1.0-py3-none-any.whl': 'missing', 'lib-2.0-py3-none-any.whl': 'size mismatch'}


def test_dependency_without_artifact_in_manifest_stops_the_task(tmp_path):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl',), tops=(('app', ['app', 'lib']),))
    with pytest.raises(VerificationError) as caught:
        run(cache, FakeTarget())
    assert 'lib' in caught.value.msg and caught.value.details['missing'] == ['lib']


def test_wheel_for_another_platform_is_refused_with_its_tags(tmp_path):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'lib-2.0-cp311-cp311-musllinux_1_2_aarch64.whl'))
    target = FakeTarget()
    with pytest.raises(VerificationError) as caught:
        run(cache, target, virtualenv=str(tmp_path / 'venv'))
    assert 'lib-2.0-cp311-cp311-musllinux_1_2_aarch64.whl' in caught.value.msg
    assert 'cp311-cp311-musllinux_1_2_aarch64' in caught.value.msg
    assert 'cp311-cp311-manylinux_2_17_x86_64' in caught.value.msg  # what the interpreter accepts
    assert target.installer_commands() == []


def test_best_fitting_wheel_is_chosen_among_several_platforms(tmp_path, existing_venv):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'lib-2.0-py3-none-any.whl',
                                        'lib-2.0-cp311-cp311-manylinux_2_17_x86_64.whl',
                                        'lib-2.0-cp311-cp311-musllinux_1_2_x86_64.whl', 'pip-26.3-py3-none-any.whl'))
    target = FakeTarget({'pip': '26.3'})
    result = run(cache, target)
    assert 'lib-2.0-cp311-cp311-manylinux_2_17_x86_64.whl' in result['verified']
    assert 'lib-2.0-py3-none-any.whl' not in result['verified']


def test_sdist_in_the_closure_is_refused(tmp_path):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'pip-26.3-py3-none-any.whl'))
    manifest_path = cache / 'manifest.json'
    data = json.loads(manifest_path.read_text())
    (cache / 'lib-2.0.tar.gz').write_bytes(b'sdist')
    data['artifacts'].append(Artifact('lib-2.0.tar.gz', 'lib', '2.0', 5, sha256_file(str(cache / 'lib-2.0.tar.gz'))).to_dict())
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(VerificationError) as caught:
        run(cache, FakeTarget())
    assert 'lib-2.0.tar.gz: not a wheel' in caught.value.msg


def test_unknown_package_names_the_requirements_the_cache_has(tmp_path):
    with pytest.raises(ManifestError) as caught:
        run(make_cache(tmp_path), FakeTarget(), packages=['Nope'])
    assert 'nope' in caught.value.msg and 'app' in caught.value.msg


def test_package_names_are_compared_normalised(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '2.0'})
    assert run(make_cache(tmp_path), target, packages=['APP'])['changed'] is False


def test_a_requirement_as_the_cache_was_built_from_it_selects_its_project(tmp_path, existing_venv):
    cache = make_cache(tmp_path, requirement='app>=1.0')
    target = FakeTarget({'app': '1.0', 'lib': '2.0'})
    assert run(cache, target, packages=['App >= 1.0'])['changed'] is False


def test_a_requirement_the_cache_was_not_built_for_is_refused_naming_what_it_was_built_for(tmp_path, existing_venv):
    cache = make_cache(tmp_path, requirement='app>=1.0')
    target = FakeTarget()
    with pytest.raises(VerificationError) as caught:
        run(cache, target, packages=['app>=2'])
    assert "was not built for the requirement 'app>=2' (it was built for 'app>=1.0')" in caught.value.msg
    assert target.commands == []


@pytest.mark.parametrize('text', ['pkg>>1', 'a b', '-e .', '', 'pkg[extra'])
def test_an_item_that_is_neither_a_name_nor_a_requirement_is_refused(tmp_path, text):
    with pytest.raises(AirgapError, match='is neither a project name nor a requirement'):
        run(make_cache(tmp_path), FakeTarget(), packages=[text])


def test_equal_versions_spelled_differently_are_converged(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0.0', 'lib': '2.0', 'pip': '26.3'})
    assert run(make_cache(tmp_path), target)['changes'] == []


def test_sync_removes_unpinned_but_keeps_seed_tools_and_system_packages(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '2.0', 'pip': '26.3', 'setuptools': '65.5', 'stray': '0.1'},
                        outside={'debian-thing': '1.0'})
    result = run(make_cache(tmp_path), target, sync=True)
    assert result['changes'] == [{'name': 'stray', 'action': 'remove', 'before': '0.1', 'after': None}]
    assert any('uninstall' in c and 'stray' in c for c in target.installer_commands())
    assert 'stray' not in target.installed


def test_without_sync_unpinned_packages_stay(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '2.0', 'stray': '0.1'})
    assert run(make_cache(tmp_path), target)['changed'] is False


def test_absent_removes_the_named_requirement_not_its_dependencies(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '2.0', 'pip': '26.3'})
    result = run(make_cache(tmp_path), target, state='absent', packages=['app'])
    assert result['changes'] == [{'name': 'app', 'action': 'remove', 'before': '1.0', 'after': None}]
    assert target.installed == {'lib': '2.0', 'pip': '26.3'}


def test_absent_with_no_virtualenv_changes_nothing(tmp_path):
    target = FakeTarget()
    result = run(make_cache(tmp_path), target, virtualenv=str(tmp_path / 'venv'), state='absent')
    assert result['changed'] is False and not (tmp_path / 'venv').exists()


def test_uv_is_used_when_its_wheel_is_cached_and_never_installed(tmp_path, existing_venv, monkeypatch):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'lib-2.0-py3-none-any.whl', 'pip-26.3-py3-none-any.whl',
                                        'uv-0.13.9-py3-none-manylinux_2_17_x86_64.whl'))
    monkeypatch.setattr(pip_offline.PipOffline, '_uv_binary', lambda self, artifact: '/private/uv')
    target = FakeTarget({'pip': '26.3'})
    result = run(cache, target)
    assert result['installer'] == 'uv'
    install = [c for c in target.installer_commands() if 'install' in c][0]
    assert install[:3] == ['/private/uv', 'pip', 'install']
    for option in ('--offline', '--no-index', '--no-config', '--no-deps', '--require-hashes', '--no-build'):
        assert option in install
    assert 'uv' not in target.installed


def test_installer_pip_ignores_a_cached_uv(tmp_path, existing_venv):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'lib-2.0-py3-none-any.whl', 'pip-26.3-py3-none-any.whl',
                                        'uv-0.13.9-py3-none-manylinux_2_17_x86_64.whl'))
    target = FakeTarget({'pip': '26.3'})
    assert run(cache, target, installer='pip')['installer'] == 'pip'
    assert target.installer_commands()[0][1:3] == ['<driver:>', 'install']  # the environment's own pip


def test_installer_uv_without_uv_wheel_fails(tmp_path, existing_venv):
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), FakeTarget(), installer='uv')
    assert 'uv' in caught.value.msg


def test_environment_without_pip_runs_pip_from_the_cached_wheel(tmp_path, existing_venv):
    target = FakeTarget({})
    run(make_cache(tmp_path), target, packages=['app'])
    command = target.installer_commands()[0]
    assert command[1].startswith('<driver:') and command[1].endswith('pip-26.3-py3-none-any.whl>')


def test_environment_without_pip_and_cache_without_pip_fails_with_a_remedy(tmp_path, existing_venv):
    cache = make_cache(tmp_path, files=('app-1.0-py3-none-any.whl', 'lib-2.0-py3-none-any.whl'))
    with pytest.raises(InstallError) as caught:
        run(cache, FakeTarget({}))
    assert 'add pip to the cache' in caught.value.msg


def test_installer_that_leaves_the_environment_unlike_the_plan_fails(tmp_path, existing_venv):
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), FakeTarget({'pip': '26.3'}, apply=False))
    assert 'does not match the plan' in caught.value.msg


def test_failing_pip_check_fails_the_task_with_its_output(tmp_path, existing_venv):
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), FakeTarget({'pip': '26.3'}, check_rc=1))
    assert 'broken: app needs lib' in caught.value.msg
    assert caught.value.details['changes']


def test_externally_managed_interpreter_needs_break_system_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(pip_offline, 'environment_lock', _no_lock)
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), FakeTarget({'pip': '26.3'}, externally_managed=True), virtualenv=None, python='/usr/bin/python3')
    assert 'PEP 668' in caught.value.msg
    with pytest.raises(InstallError):
        run(make_cache(tmp_path / 'check'), FakeTarget({'pip': '26.3'}, externally_managed=True), virtualenv=None,
            python='/usr/bin/python3', check_mode=True)
    target = FakeTarget({'pip': '26.3'}, externally_managed=True)
    run(make_cache(tmp_path / 'second'), target, virtualenv=None, python='/usr/bin/python3', break_system_packages=True)
    assert '--break-system-packages' in target.installer_commands()[0]


def test_result_names_interpreter_and_manifest_digest(tmp_path, existing_venv):
    cache = make_cache(tmp_path)
    result = run(cache, FakeTarget({'app': '1.0', 'lib': '2.0'}), virtualenv='/srv/venv')
    assert result['interpreter'] == '/srv/venv/bin/python'
    with open(str(cache / 'manifest.json'), 'rb') as handle:
        canonical = json.dumps(json.load(handle), sort_keys=True, separators=(',', ':'), ensure_ascii=True).encode('ascii')
    assert result['manifest_digest'] == hashlib.sha256(canonical).hexdigest()
    assert result['python_version'] == '3.11.2'


def test_compile_bytecode_off_passes_no_compile(tmp_path, existing_venv):
    target = FakeTarget({'pip': '26.3'})
    run(make_cache(tmp_path), target, compile_bytecode=False)
    assert '--no-compile' in [c for c in target.installer_commands() if 'install' in c][0]


def fake_uv_wheel(cache, payload=b'#!/bin/sh\necho uv\n', record_payload=None):
    filename = 'uv-0.1-py3-none-manylinux_2_17_x86_64.whl'
    data = wheel_bytes(filename, {'uv-0.1.data/scripts/uv': record_payload or payload})
    if record_payload is not None:
        # The same wheel with another binary than its RECORD states.
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, 'w') as archive:
                for info in source.infolist():
                    archive.writestr(info.filename, payload if info.filename.endswith('/uv') else source.read(info))
        data = buffer.getvalue()
    path = os.path.join(str(cache), filename)
    with open(path, 'wb') as handle:
        handle.write(data)
    return Artifact(os.path.basename(path), 'uv', '0.1', os.path.getsize(path), sha256_file(path))


def uv_offline(tmp_path):
    cache = make_cache(tmp_path)
    offline = pip_offline.PipOffline(pip_offline.Request(str(cache), virtualenv='/v', tmpdir=str(tmp_path)), runner=FakeTarget())
    return cache, offline


def test_uv_binary_is_extracted_once_into_a_private_directory_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    cache, offline = uv_offline(tmp_path)
    artifact = fake_uv_wheel(cache)
    binary = offline._uv_binary(artifact)
    assert offline.verified == [artifact.filename]  # the wheel is verified before anything is taken from it
    assert binary.startswith(str(tmp_path / 'home' / '.cache' / 'airgap-packages'))
    assert os.stat(os.path.dirname(binary)).st_mode & 0o777 == 0o700
    with open(binary, 'rb') as handle:
        assert handle.read() == b'#!/bin/sh\necho uv\n'
    first = os.stat(binary).st_ino
    os.unlink(os.path.join(str(cache), artifact.filename))  # a kept, stamped binary needs no wheel
    assert offline._uv_binary(artifact) == binary and os.stat(binary).st_ino == first  # reused, not extracted again
    artifact = fake_uv_wheel(cache)
    with open(binary, 'wb') as handle:
        handle.write(b'tampered')
    assert offline._uv_binary(artifact) == binary
    with open(binary, 'rb') as handle:
        assert handle.read() == b'#!/bin/sh\necho uv\n'


def test_uv_binary_that_does_not_match_the_wheel_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    cache, offline = uv_offline(tmp_path)
    artifact = fake_uv_wheel(cache, record_payload=b'something else')
    with pytest.raises(VerificationError) as caught:
        offline._uv_binary(artifact)
    assert 'member uv-0.1.data/scripts/uv' in caught.value.msg and 'RECORD' in caught.value.msg


def test_shared_tools_directory_is_not_used(tmp_path, monkeypatch):
    home = tmp_path / 'home'
    (home / '.cache' / 'airgap-packages').mkdir(parents=True)
    os.chmod(str(home / '.cache' / 'airgap-packages'), 0o777)
    monkeypatch.setenv('HOME', str(home))
    cache, offline = uv_offline(tmp_path)
    binary = offline._uv_binary(fake_uv_wheel(cache))
    assert binary.startswith(str(tmp_path)) and not binary.startswith(str(home))


def test_check_problems_separate_managed_packages_from_the_systems_own():
    output = ('pygobject 3.42.2 requires pycairo, which is not installed.\n'
              'flask 3.1.3 has requirement werkzeug>=3.1, but you have werkzeug 2.0.\n'
              'The package `rich` requires `pygments>=2.13`, but it\'s not installed\n'
              'WARNING: Running pip as the \'root\' user can result in broken permissions\n')
    relevant, unrelated = pip_offline.check_problems(output, set(['werkzeug', 'pygments']))
    assert relevant == ['flask 3.1.3 has requirement werkzeug>=3.1, but you have werkzeug 2.0.',
                        "The package `rich` requires `pygments>=2.13`, but it's not installed"]
    assert unrelated == ['pygobject 3.42.2 requires pycairo, which is not installed.']


def test_broken_system_package_unrelated_to_the_plan_is_a_warning_not_a_failure(tmp_path, existing_venv):
    warnings = []

    class Broken(FakeTarget):
        def __call__(self, argv, data=None, cwd=None):
            if 'check' in argv and len(argv) < 8:
                self.commands.append(list(argv))
                return 1, 'pygobject 3.42.2 requires pycairo, which is not installed.', ''
            return FakeTarget.__call__(self, argv, data, cwd)

    target = Broken({'pip': '26.3'})
    request = pip_offline.Request(str(make_cache(tmp_path)), virtualenv='/v', tmpdir=str(tmp_path))
    result = pip_offline.PipOffline(request, runner=target, warn=warnings.append).run()
    assert result['changed'] is True
    assert warnings and 'pygobject' in warnings[0]


def test_absent_works_with_a_cache_for_another_platform(tmp_path, existing_venv):
    cache = make_cache(tmp_path, files=('app-1.0-cp39-cp39-win_amd64.whl', 'lib-2.0-py3-none-any.whl'))
    target = FakeTarget({'app': '1.0', 'lib': '2.0', 'pip': '26.3'})
    result = run(cache, target, state='absent')
    assert result['changes'] == [{'name': 'app', 'action': 'remove', 'before': '1.0', 'after': None}]
    assert 'app' not in target.installed


def test_absent_in_an_environment_without_pip_uses_the_cached_pip(tmp_path, existing_venv):
    target = FakeTarget({'app': '1.0', 'lib': '2.0'})
    result = run(make_cache(tmp_path), target, state='absent')
    assert result['changes'][0]['action'] == 'remove' and 'app' not in target.installed
    command = target.installer_commands()[0]
    assert command[3] == pip_offline.PIP_FROM_WHEEL and command[4].endswith('pip-26.3-py3-none-any.whl')
    assert command[5] == 'uninstall'


def test_virtualenv_appearing_while_planning_is_planned_again_under_the_lock(tmp_path, monkeypatch):
    # Another run creates the virtualenv between this run's first look and its plan: the plan made
    # outside the lock must not be reported; the run plans again under the lock and acts on that.
    looks = []
    monkeypatch.setattr(python_env, 'is_virtualenv', lambda path: looks.append(path) or len(looks) > 1)
    locked = []

    class Lock(_no_lock):
        def __enter__(self):
            locked.append(True)
            return self

    monkeypatch.setattr(pip_offline, 'environment_lock', Lock)
    target = FakeTarget({'pip': '26.3', 'app': '1.0'})
    result = run(make_cache(tmp_path), target)
    assert locked == [True]
    assert result['changes'] == [{'name': 'lib', 'action': 'install', 'before': None, 'after': '2.0'}]
    assert target.installed['lib'] == '2.0'


# ---------------------------------------------------------------- damaged installs, failed runs, free space

class DiskTarget(FakeTarget):
    """A target whose site-packages is a real directory: the probe reads it does, pip writes it."""

    def __init__(self, venv, fail_check=False, fail_after=None):
        FakeTarget.__init__(self)
        self.venv = venv
        self.site = os.path.join(venv, 'lib', 'python3.11', 'site-packages')
        os.makedirs(self.site, exist_ok=True)
        self.fail_check = fail_check
        self.fail_after = fail_after

    def write(self, name, version, body='VALUE = 1\n', record=True):
        package = os.path.join(self.site, name)
        os.makedirs(package, exist_ok=True)
        if os.path.exists(os.path.join(package, '__init__.py')):
            os.unlink(os.path.join(package, '__init__.py'))  # as pip replaces a file
        with open(os.path.join(package, '__init__.py'), 'w') as handle:
            handle.write(body)
        info = os.path.join(self.site, '%s-%s.dist-info' % (name, version))
        os.makedirs(info, exist_ok=True)
        with open(os.path.join(info, 'METADATA'), 'w') as handle:
            handle.write('Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (name, version))
        if record:
            data = body.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
            with open(os.path.join(info, 'RECORD'), 'w') as handle:
                handle.write('%s/__init__.py,sha256=%s,%d\n%s-%s.dist-info/METADATA,,\n%s-%s.dist-info/RECORD,,\n'
                             % (name, digest, len(data), name, version, name, version))

    def __call__(self, argv, data=None, cwd=None):
        if len(argv) > 3 and argv[1:3] == ['-I', '-c'] and 'def describe(request)' in argv[3]:
            request = json.loads(data)
            self.commands.append(('probe', argv[0], 'wheeltags_source' in request))
            answer = {'executable': argv[0], 'version': '3.11.2', 'implementation': 'cpython', 'prefix': self.venv, 'in_venv': True,
                      'purelib': self.site, 'platlib': self.site, 'scripts': os.path.join(self.venv, 'bin'), 'data': self.venv,
                      'externally_managed': False, 'has_venv': True, 'has_ensurepip': False,
                      'distributions': interpreter_probe.installed_distributions([self.site], [self.site], request.get('check'))}
            if 'wheeltags_source' in request:
                answer['tags'] = interpreter_probe.tag_report(WHEELTAGS, request['filenames'])
            return 0, json.dumps(answer), ''
        if len(argv) > 6 and argv[3] == pip_offline.PIP_DRIVER:
            self.commands.append(list(argv))
            install = json.loads(argv[5])
            with open(install[install.index('-r') + 1]) as handle:
                lines = handle.read().splitlines()
            self.requirements.append([line.split(' ')[0] for line in lines])
            for index, line in enumerate(lines):
                if self.fail_after is not None and index >= self.fail_after:
                    return 1, '', 'ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device'
                name, version = line.split(' ')[0].split('==')
                if os.path.isdir(os.path.join(self.site, '%s-%s.dist-info' % (name, version))):
                    continue  # as pip and uv do: "Requirement already satisfied"
                for old in os.listdir(self.site):
                    if old.startswith(name + '-') and old.endswith('.dist-info'):
                        shutil.rmtree(os.path.join(self.site, old))
                self.write(name, version, body='VALUE = %r\n' % version)
            if self.fail_check:
                return 86, '\n%s\napp 1.0 requires nowhere, which is not installed.\n' % pip_offline.CHECK_MARK, ''
            return 0, '\n%s\nNo broken requirements found.\n' % pip_offline.CHECK_MARK, ''
        return FakeTarget.__call__(self, argv, data, cwd)


def disk_venv(tmp_path, monkeypatch, **options):
    venv = str(tmp_path / 'venv')
    monkeypatch.setattr(python_env, 'is_virtualenv', os.path.isdir)
    target = DiskTarget(venv, **options)
    os.makedirs(os.path.join(venv, 'bin'))
    with open(os.path.join(venv, 'bin', 'tool'), 'w') as handle:
        handle.write('#!/bin/sh\n')
    return venv, target


def snapshot(root):
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            with open(path, 'rb') if os.path.isfile(path) else io.BytesIO() as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def test_distribution_without_record_is_planned_as_a_reinstall_and_repaired(tmp_path, monkeypatch):
    venv, target = disk_venv(tmp_path, monkeypatch)
    target.write('app', '1.0')
    target.write('lib', '2.0', record=False)  # as pip leaves it when killed after METADATA, before RECORD
    target.write('pip', '26.3')
    cache = make_cache(tmp_path)
    checked = run(cache, target, virtualenv=venv, check_mode=True)
    assert checked['changes'] == [{'name': 'lib', 'action': 'reinstall', 'before': '2.0', 'after': '2.0'}]
    assert checked['broken'] == [{'name': 'lib', 'version': '2.0', 'path': os.path.join(target.site, 'lib-2.0.dist-info'),
                                  'problem': 'RECORD is missing'}]
    result = run(cache, target, virtualenv=venv)
    assert result['changed'] is True and target.requirements == [['lib==2.0']]
    assert os.path.exists(os.path.join(target.site, 'lib-2.0.dist-info', 'RECORD'))
    assert run(cache, target, virtualenv=venv)['changed'] is False


def test_files_missing_from_a_record_are_drift(tmp_path, monkeypatch):
    venv, target = disk_venv(tmp_path, monkeypatch)
    for name, version in (('app', '1.0'), ('lib', '2.0'), ('pip', '26.3')):
        target.write(name, version)
    os.unlink(os.path.join(target.site, 'lib', '__init__.py'))
    result = run(make_cache(tmp_path), target, virtualenv=venv, check_mode=True)
    assert result['changes'] == [{'name': 'lib', 'action': 'reinstall', 'before': '2.0', 'after': '2.0'}]
    assert 'files that RECORD lists are missing: lib/__init__.py' in result['broken'][0]['problem']


def test_a_failed_install_into_an_existing_virtualenv_is_undone(tmp_path, monkeypatch):
    venv, target = disk_venv(tmp_path, monkeypatch, fail_after=1)
    target.write('app', '0.9')
    target.write('pip', '26.3')
    before = snapshot(venv)
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), target, virtualenv=venv)
    assert 'No space left on device' in caught.value.msg and 'restored to its state before this run' in caught.value.msg
    assert snapshot(venv) == before


def test_a_failed_check_in_an_existing_virtualenv_is_undone(tmp_path, monkeypatch):
    venv, target = disk_venv(tmp_path, monkeypatch, fail_check=True)
    target.write('pip', '26.3')
    before = snapshot(venv)
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), target, virtualenv=venv)
    assert 'check failed' in caught.value.msg and 'restored' in caught.value.msg
    assert snapshot(venv) == before


def test_a_failed_install_into_a_new_virtualenv_removes_it(tmp_path, monkeypatch):
    venv = str(tmp_path / 'venv')
    target = DiskTarget(str(tmp_path / 'elsewhere'), fail_check=True)

    def create(path, base_python, base_state, runner, seed_pip_with_ensurepip):
        os.makedirs(os.path.join(path, 'bin'))
        target.venv, target.site = path, os.path.join(path, 'lib', 'python3.11', 'site-packages')
        os.makedirs(target.site)
        return 'venv'

    monkeypatch.setattr(python_env, 'create_virtualenv', create)
    monkeypatch.setattr(python_env, 'is_virtualenv', os.path.isdir)
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), target, virtualenv=venv)
    assert 'the virtualenv %s that this run created was removed again' % venv in caught.value.msg
    assert not os.path.exists(venv)


class _Filesystem:
    def __init__(self, available, block=4096, inodes=10 ** 6):
        self.f_frsize = self.f_bsize = block
        self.f_bavail = available // block
        self.f_files = self.f_favail = inodes
        self.f_flag = 0  # mounted read-write


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_plan_that_does_not_fit_the_filesystem_fails_naming_required_and_available(tmp_path, monkeypatch, check_mode):
    venv, target = disk_venv(tmp_path, monkeypatch)
    target.write('pip', '26.3')
    monkeypatch.setattr(pip_offline.os, 'statvfs', lambda path: _Filesystem(64 * 1024))
    before = snapshot(venv)
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), target, virtualenv=venv, check_mode=check_mode)
    space = caught.value.details['space'][0]
    assert space['available'] == 64 * 1024 and space['required'] > space['available']
    assert 'needs 1.' in caught.value.msg and '0.1 MiB are available' in caught.value.msg and venv in caught.value.msg
    assert target.installer_commands() == [] and snapshot(venv) == before


def test_a_filesystem_short_of_inodes_is_named_too(tmp_path, monkeypatch):
    venv, target = disk_venv(tmp_path, monkeypatch)
    target.write('pip', '26.3')
    monkeypatch.setattr(pip_offline.os, 'statvfs', lambda path: _Filesystem(10 ** 9, inodes=2))
    with pytest.raises(InstallError) as caught:
        run(make_cache(tmp_path), target, virtualenv=venv)
    assert 'inodes, 2 are available' in caught.value.msg


def test_a_wheel_that_is_not_sound_stops_the_task_before_anything_runs(tmp_path):
    cache = make_cache(tmp_path)
    path = cache / 'lib-2.0-py3-none-any.whl'
    path.write_bytes(wheel_bytes('lib-2.0-py3-none-any.whl', {'../../escape.py': b'x'}))
    manifest = pip_offline.load_manifest(str(cache))
    for artifact in manifest.artifacts:
        if artifact.filename == path.name:
            artifact.size, artifact.sha256 = path.stat().st_size, sha256_file(str(path))
    write_manifest(str(cache), manifest)
    target = FakeTarget()
    venv = tmp_path / 'venv'
    with pytest.raises(VerificationError) as caught:
        run(cache, target, virtualenv=str(venv))
    assert 'lib-2.0-py3-none-any.whl: member ../../escape.py climbs out' in caught.value.msg
    assert target.installer_commands() == [] and not venv.exists()


def test_a_broken_distribution_that_sync_removes_is_removed_without_the_installer(tmp_path, monkeypatch):
    venv, target = disk_venv(tmp_path, monkeypatch)
    for name, version in (('app', '1.0'), ('lib', '2.0'), ('pip', '26.3')):
        target.write(name, version)
    target.write('stray', '0.1', record=False)
    result = run(make_cache(tmp_path), target, virtualenv=venv, sync=True)
    assert result['changes'] == [{'name': 'stray', 'action': 'remove', 'before': '0.1', 'after': None}]
    assert [b['name'] for b in result['broken']] == ['stray']
    assert not os.path.exists(os.path.join(target.site, 'stray-0.1.dist-info'))
    assert not [c for c in target.installer_commands() if 'uninstall' in c]  # pip cannot uninstall it without RECORD
