# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Garbage in, clear errors out: every module given bad options and bad files, as a playbook gives them.

Each case is one task of one playbook run on localhost. Each must fail with a message that names the
culprit (the option, the file, the value) and what to do about it, and never with a raw exception.
"""

import hashlib
import json
import os
import sys

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common import platform_info
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, TopLevel, write_manifest
from runner import MODULE_PATH_ENVIRONMENT

pytestmark = pytest.mark.integration

ROOT = '@ROOT@'
GOOD_DIGEST = 'a' * 64
ARM39 = {'version': '3.9.18', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}}


def at(name):
    return ROOT + '/' + name


def a_cache_dir(name, manifest, *fragments):
    """A cache directory whose manifest.json is `manifest` (a string is written as it is), and the words that name
    what is wrong with it."""
    return (name, manifest if isinstance(manifest, str) else json.dumps(manifest), fragments)


def artifact(**changes):
    entry = {'filename': 'pkg-1.0-py3-none-any.whl', 'name': 'pkg', 'version': '1.0', 'size': 3,
             'sha256': 'b' * 64}
    entry.update(changes)
    return entry


def python_manifest(**changes):
    data = {'schema': 1, 'ecosystem': 'python', 'environment': {'key': 'k'},
            'requirements': [{'requirement': 'pkg', 'name': 'pkg', 'closure': ['pkg']}], 'artifacts': [artifact()]}
    data.update(changes)
    return data


# Cache directories with broken manifests, by name: every module that reads a cache meets them.
BROKEN_CACHES = [
    a_cache_dir('cache-not-json', '{"schema": 1, "ecosystem": ', 'not valid JSON'),
    a_cache_dir('cache-a-list', [python_manifest()], 'not a JSON object'),
    a_cache_dir('cache-artifacts-a-dict', python_manifest(artifacts={'pkg-1.0-py3-none-any.whl': artifact()}),
                'artifacts must be a list of objects, not an object'),
    a_cache_dir('cache-artifact-a-string', python_manifest(artifacts=['pkg-1.0-py3-none-any.whl']),
                "an artifact entry is 'pkg-1.0-py3-none-any.whl', not an object"),
    a_cache_dir('cache-traversal', python_manifest(artifacts=[artifact(filename='../../../etc/passwd')]),
                "artifact filename '../../../etc/passwd' is not a plain file name"),
    a_cache_dir('cache-bad-sha256', python_manifest(artifacts=[artifact(sha256='not-a-digest')]),
                "sha256 'not-a-digest', not 64 lowercase hex digits"),
    a_cache_dir('cache-negative-size', python_manifest(artifacts=[artifact(size=-3)]), 'size -3, not a number of bytes'),
    a_cache_dir('cache-size-a-word', python_manifest(artifacts=[artifact(size='three')]), "size 'three'"),
    a_cache_dir('cache-no-ecosystem', dict((k, v) for k, v in python_manifest().items() if k != 'ecosystem'),
                'ecosystem is None, expected one of python, ruby'),
    a_cache_dir('cache-cobol', python_manifest(ecosystem='cobol'), "ecosystem is 'cobol'"),
    a_cache_dir('cache-schema-9', python_manifest(schema=9), 'schema 9'),
    a_cache_dir('cache-environment-a-list', python_manifest(environment=['k']), 'environment must be an object, not a list'),
    a_cache_dir('cache-requirements-a-string', python_manifest(requirements='pkg'), 'requirements must be a list'),
    a_cache_dir('cache-requirement-without-name', python_manifest(requirements=[{'requirement': 'pkg'}]),
                'lacks its requirement or name'),
    a_cache_dir('cache-manifest-as-artifact', python_manifest(artifacts=[artifact(filename='manifest.json')]),
                "artifact filename 'manifest.json' is not a plain file name"),
]


def case(module, args, *fragments, **options):
    """One bad input: the module, its arguments, and the words its failure message must hold."""
    marks = options.get('marks', ())
    return pytest.param(module, args, fragments, marks=marks, id=options.get('id'))


def wheels(**args):
    return dict({'dest': at('out'), 'requirements': ['pkg'], 'platforms': [ARM39]}, **args)


def gems(**args):
    return dict({'dest': at('out'), 'gems': ['rake']}, **args)


def pip(**args):
    args = dict({'cache': at('cache-good'), 'virtualenv': at('venv')}, **args)
    return dict((name, value) for name, value in args.items() if value is not None)


def gem_install(**args):
    return dict({'cache': at('cache-ruby'), 'install_dir': at('gems')}, **args)


def ship(**args):
    return dict({'src': at('cache-good'), 'dest': at('stage')}, **args)


def publish(**args):
    return dict({'store': 'file://' + at('store'), 'src': [at('cache-good')]}, **args)


def fetch(**args):
    return dict({'store': 'file://' + at('store'), 'ecosystem': 'python', 'key': 'k', 'dest': at('stage')}, **args)


def stage(**args):
    return dict({'stage': at('stage')}, **args)


NOT_A_DIRECTORY = 'exists and is not one'

CASES = [
    # wheel_cache (controller)
    case('wheel_cache', wheels(platforms=[{'version': '3.11', 'arch': 'x86_64', 'libc': 'glibc'}]),
         'platforms[0]', 'libc must be a dict', id='wheel_cache-libc-a-string'),
    case('wheel_cache', wheels(platforms=['cp311']), "option 'platforms' is of type str", id='wheel_cache-platform-a-string'),
    case('wheel_cache', wheels(platforms=[{}]), 'platforms[0]', 'lacks version', id='wheel_cache-platform-empty'),
    case('wheel_cache', wheels(platforms=[ARM39, dict(ARM39, version='three')]), 'platforms[1]', "'three'",
         id='wheel_cache-platform-version-a-word'),
    case('wheel_cache', wheels(platforms=[dict(ARM39, arch='')]), 'platforms[0]', 'lacks arch', id='wheel_cache-platform-arch-empty'),
    case('wheel_cache', wheels(platforms=[dict(ARM39, libc={'flavor': 'glibc', 'version': 'new'})]),
         'platforms[0]', "libc version 'new'", id='wheel_cache-platform-libc-version-a-word'),
    case('wheel_cache', wheels(platforms=[dict(ARM39, libc={'flavor': 'uclibc', 'version': '1.0'})]),
         'platforms[0]', "libc flavor 'uclibc'", id='wheel_cache-platform-libc-flavor-unknown'),
    # An index URL may hold a token: the value is never repeated, only the option is named.
    case('wheel_cache', wheels(index_url='not a url'), 'index_url', 'give https://host/simple/', id='wheel_cache-index-url-not-a-url'),
    case('wheel_cache', wheels(index_url='ftp://mirror/simple/'), 'index_url', 'give https://host/simple/',
         id='wheel_cache-index-url-ftp'),
    case('wheel_cache', wheels(extra_index_urls=['mirror']), 'extra_index_urls', 'give https://host/simple/',
         id='wheel_cache-extra-index-url-not-a-url'),
    case('wheel_cache', wheels(requirements=[]), 'requirements and requirements_files are empty',
         id='wheel_cache-nothing-to-cache'),
    case('wheel_cache', wheels(requirements=['pkg>>2']), "invalid requirement 'pkg>>2' in requirements",
         id='wheel_cache-requirement-not-pep508'),
    case('wheel_cache', wheels(requirements=['']), "invalid requirement '' in requirements", id='wheel_cache-requirement-empty'),
    case('wheel_cache', wheels(requirements=[], requirements_files=[at('missing.txt')]), 'requirements file', at('missing.txt'),
         'No such file', id='wheel_cache-requirements-file-missing'),
    case('wheel_cache', wheels(requirements=[], requirements_files=[at('empty')]), 'requirements file', 'Is a directory',
         id='wheel_cache-requirements-file-a-directory'),
    case('wheel_cache', wheels(constraints_files=[at('missing.txt')]), 'constraints file', at('missing.txt'),
         id='wheel_cache-constraints-file-missing'),
    case('wheel_cache', wheels(dest=at('plain-file')), 'dest', at('plain-file'), NOT_A_DIRECTORY, id='wheel_cache-dest-a-file'),
    case('wheel_cache', wheels(dest='relative/out'), "dest 'relative/out' is a relative path", id='wheel_cache-dest-relative'),
    case('wheel_cache', wheels(timeout=0), 'timeout is 0', id='wheel_cache-timeout-zero'),
    case('wheel_cache', wheels(timeout='soon'), "argument 'timeout'", id='wheel_cache-timeout-a-word'),
    case('wheel_cache', wheels(signing_key=at('missing-key')), 'signing_key', at('missing-key'), 'ssh-keygen -t ed25519',
         id='wheel_cache-signing-key-missing'),
    case('wheel_cache', wheels(signing_key=at('not-a-key')), 'signing_key', at('not-a-key'), id='wheel_cache-signing-key-garbage'),
    case('wheel_cache', wheels(trusted_keys=at('missing-key')), 'trusted_keys', at('missing-key'),
         id='wheel_cache-trusted-keys-missing'),
    case('wheel_cache', wheels(colour='blue'), 'colour', 'Supported parameters', id='wheel_cache-unknown-option'),

    # gem_cache (controller)
    case('gem_cache', gems(gems=[]), 'name gems, a gemfile_lock', id='gem_cache-nothing-to-cache'),
    case('gem_cache', gems(gems=['rake (((']), "gems: 'rake (((' is not a valid gem name", id='gem_cache-gem-garbage'),
    case('gem_cache', gems(gems=['']), "gems: '' is not a valid gem name", id='gem_cache-gem-empty'),
    case('gem_cache', gems(gems=[], gemfile_lock=at('missing.lock')), 'gemfile_lock', at('missing.lock'),
         id='gem_cache-gemfile-lock-missing'),
    case('gem_cache', gems(gems=[], gemfile_lock=at('garbage.lock')), at('garbage.lock'), 'Gemfile.lock written by Bundler',
         id='gem_cache-gemfile-lock-garbage'),
    case('gem_cache', gems(gems=[], gemfile_lock=at('empty')), 'gemfile_lock', 'Is a directory',
         id='gem_cache-gemfile-lock-a-directory'),
    case('gem_cache', gems(sources=['not a url']), 'sources', 'http(s)://', id='gem_cache-source-not-a-url'),
    case('gem_cache', gems(platforms=[]), 'platforms is empty', id='gem_cache-no-platforms'),
    case('gem_cache', gems(platforms=['x86_64 linux; rm -rf /']), 'is not a Ruby platform', id='gem_cache-platform-garbage'),
    case('gem_cache', gems(dest=at('plain-file')), 'dest', at('plain-file'), NOT_A_DIRECTORY, id='gem_cache-dest-a-file'),
    case('gem_cache', gems(signing_key=at('not-a-key')), 'signing_key', at('not-a-key'), id='gem_cache-signing-key-garbage'),
    case('gem_cache', gems(trusted_keys=at('not-a-key')), 'trusted_keys', at('not-a-key'), 'allowed_signers',
         id='gem_cache-trusted-keys-garbage'),

    # pip_offline (target)
    case('pip_offline', pip(cache=at('missing-cache')), at('missing-cache'), 'a cache built by airgap.packages',
         id='pip_offline-cache-missing'),
    case('pip_offline', pip(cache=at('plain-file')), at('plain-file'), 'Not a directory', id='pip_offline-cache-a-file'),
    case('pip_offline', pip(cache=at('empty')), 'manifest.json', id='pip_offline-cache-no-manifest'),
    case('pip_offline', pip(cache=at('cache-ruby')), 'holds a ruby cache', id='pip_offline-cache-of-gems'),
    case('pip_offline', pip(packages=['numpy']), 'numpy not among the top-level requirements', id='pip_offline-package-not-in-cache'),
    case('pip_offline', pip(packages=['pkg>>1']), "packages: 'pkg>>1' is neither a project name nor a requirement", id='pip_offline-package-not-a-name'),
    case('pip_offline', pip(virtualenv='/proc/v20'), 'virtualenv /proc/v20', 'proc filesystem', id='pip_offline-venv-in-proc'),
    case('pip_offline', pip(virtualenv=at('plain-file')), 'virtualenv', NOT_A_DIRECTORY, id='pip_offline-venv-a-file'),
    case('pip_offline', pip(virtualenv='relative/venv'), "virtualenv 'relative/venv' is a relative path",
         id='pip_offline-venv-relative'),
    case('pip_offline', pip(virtualenv=None, python=at('missing-python')), at('missing-python'), id='pip_offline-python-missing'),
    case('pip_offline', pip(virtualenv=None, python=at('not-executable')), at('not-executable'),
         id='pip_offline-python-not-executable'),
    case('pip_offline', pip(virtualenv=None), 'one of the following is required: virtualenv, python',
         id='pip_offline-no-environment'),
    case('pip_offline', pip(state='gone'), 'state must be one of: present, absent', id='pip_offline-state-unknown'),
    case('pip_offline', pip(installer='conda'), 'installer must be one of', id='pip_offline-installer-unknown'),
    case('pip_offline', pip(trusted_keys=at('not-a-key')), 'trusted_keys', at('not-a-key'), 'allowed_signers',
         id='pip_offline-trusted-keys-garbage'),
    case('pip_offline', pip(trusted_keys=at('missing-key')), 'trusted_keys', at('missing-key'), id='pip_offline-trusted-keys-missing'),

    # gem_offline (target)
    case('gem_offline', gem_install(cache=at('missing-cache')), at('missing-cache'), id='gem_offline-cache-missing'),
    case('gem_offline', gem_install(cache=at('cache-good')), 'holds python artifacts, not gems', id='gem_offline-cache-of-wheels'),
    case('gem_offline', gem_install(gems=['rake (((']), "gems: 'rake (((' is not a valid gem name", id='gem_offline-gem-garbage'),
    case('gem_offline', gem_install(user_install=True), 'mutually exclusive: install_dir|user_install',
         id='gem_offline-install-dir-and-user-install'),
    case('gem_offline', gem_install(install_dir=at('plain-file')), 'install_dir', NOT_A_DIRECTORY, id='gem_offline-install-dir-a-file'),
    case('gem_offline', gem_install(install_dir='relative/gems'), "install_dir 'relative/gems' is a relative path",
         id='gem_offline-install-dir-relative'),
    case('gem_offline', gem_install(install_dir='/proc/gems'), 'install_dir /proc/gems', 'proc filesystem',
         id='gem_offline-install-dir-in-proc'),
    case('gem_offline', gem_install(executable=at('missing-gem')), at('missing-gem'), 'not found', id='gem_offline-executable-missing'),
    case('gem_offline', gem_install(bindir=at('plain-file')), 'bindir', NOT_A_DIRECTORY, id='gem_offline-bindir-a-file'),
    case('gem_offline', gem_install(gems=['rails']), 'rails not among the top-level requirements', id='gem_offline-gem-not-in-cache'),
    case('gem_offline', gem_install(state='absent', sync=True), 'sync', 'state=present', id='gem_offline-sync-with-absent'),

    # host_state (target)
    case('host_state', {'ruby': {'stage': 5}}, "ruby.stage '5' is a relative path", id='host_state-ruby-stage-a-number'),
    case('host_state', {'python': {'stage': 'relative/stage'}}, "python.stage 'relative/stage' is a relative path",
         id='host_state-python-stage-relative'),
    case('host_state', {'python': {'stage': at('plain-file')}}, 'python.stage', NOT_A_DIRECTORY, id='host_state-python-stage-a-file'),
    case('host_state', {'python': stage(keep=-1)}, 'python.keep is -1', id='host_state-keep-negative'),
    case('host_state', {'ruby': stage(keep=0)}, 'ruby.keep is 0', id='host_state-ruby-keep-zero'),
    case('host_state', {'python': stage(environments=[{'virtualenv': 'relative/venv'}])},
         "python.environments[0].virtualenv 'relative/venv' is a relative path", id='host_state-environment-relative'),
    case('host_state', {'python': stage(environments=[{'virtualenv': at('venv'), 'packages': ['pkg>>1']}])},
         "python.environments[0].packages: 'pkg>>1' is neither a project name nor a requirement", id='host_state-environment-package-not-a-name'),
    case('host_state', {'python': stage(environments=[{'packages': ['pkg']}])}, 'virtualenv',
         id='host_state-environment-without-virtualenv'),
    case('host_state', {'ruby': stage(install_dir='relative/gems')}, "ruby.install_dir 'relative/gems' is a relative path",
         id='host_state-ruby-install-dir-relative'),
    case('host_state', {'ruby': stage(gems=['rake ((('])}, "ruby.gems: 'rake (((' is not a valid gem name",
         id='host_state-ruby-gem-garbage'),
    case('host_state', {'python': stage(), 'python_interpreter': at('missing-python')}, at('missing-python'), 'does not exist',
         id='host_state-python-interpreter-missing'),

    # platform_facts (target)
    case('platform_facts', {'python_interpreter': at('missing-python')}, at('missing-python'), 'does not exist',
         id='platform_facts-python-interpreter-missing'),
    case('platform_facts', {'python_interpreter': at('not-executable')}, at('not-executable'), 'is not an executable file',
         id='platform_facts-python-interpreter-not-executable'),
    case('platform_facts', {'python_interpreter': at('empty')}, at('empty'), 'is not an executable file',
         id='platform_facts-python-interpreter-a-directory'),
    case('platform_facts', {'python_interpreter': '/bin/false'}, '/bin/false', 'Python 3.8 or newer',
         id='platform_facts-python-interpreter-not-python'),

    # ship_cache (controller and target)
    case('ship_cache', ship(dest=at('plain-file')), at('plain-file'), 'is not a directory', id='ship_cache-dest-a-file'),
    case('ship_cache', ship(dest='relative/stage'), "dest 'relative/stage' is a relative path", id='ship_cache-dest-relative'),
    case('ship_cache', ship(keep=-1), 'keep is -1', id='ship_cache-keep-negative'),
    case('ship_cache', ship(keep='some'), "keep is 'some'", id='ship_cache-keep-a-word'),
    case('ship_cache', ship(src=at('missing-cache')), at('missing-cache'), 'a cache built by airgap.packages',
         id='ship_cache-src-missing'),
    case('ship_cache', ship(src=at('empty')), 'manifest.json', id='ship_cache-src-no-manifest'),
    case('ship_cache', ship(src=at('cache-python')), 'is incomplete, nothing was shipped', 'pkg-1.0-py3-none-any.whl: missing',
         id='ship_cache-src-artifact-missing'),
    case('ship_cache', ship(settled=['latest']), "settled holds 'latest'", id='ship_cache-settled-not-a-digest'),
    case('ship_cache', ship(dest='/proc/stage'), '/proc/stage', id='ship_cache-dest-in-proc'),

    # publish_cache (controller)
    case('publish_cache', publish(store='not a url'), "store 'not a url'", 's3://bucket/prefix', id='publish_cache-store-not-a-url'),
    case('publish_cache', publish(store='ftp://host/store'), "store 'ftp://host/store'", id='publish_cache-store-ftp'),
    case('publish_cache', publish(store='https://store.example/airgap'), 'is read only', id='publish_cache-store-read-only'),
    case('publish_cache', publish(store='s3://'), 'names no bucket', id='publish_cache-store-no-bucket'),
    case('publish_cache', publish(store='file://relative/store'), 'file:///absolute/path', id='publish_cache-file-store-relative'),
    case('publish_cache', publish(src=[at('missing-cache')]), at('missing-cache'), 'holds no cache', id='publish_cache-src-missing'),
    case('publish_cache', publish(src=[at('empty')]), at('empty'), 'holds no cache', id='publish_cache-src-no-cache'),
    case('publish_cache', publish(src=[at('cache-python')]), 'pkg-1.0-py3-none-any.whl: missing',
         id='publish_cache-src-artifact-missing'),
    case('publish_cache', publish(src=[]), 'nothing to publish', id='publish_cache-nothing-to-publish'),
    case('publish_cache', publish(src=[], manifests=['latest']), "'latest' is not a manifest digest",
         id='publish_cache-manifest-not-a-digest'),
    case('publish_cache', publish(src=[], manifests=[GOOD_DIGEST]), 'has no manifest ' + GOOD_DIGEST,
         id='publish_cache-manifest-not-in-store'),
    case('publish_cache', publish(channel='../stable'), "channel '../stable' is not a valid name", id='publish_cache-channel-traversal'),
    case('publish_cache', publish(channel=''), "channel '' is not a valid name", id='publish_cache-channel-empty'),
    case('publish_cache', publish(timeout=-1), 'timeout is -1', id='publish_cache-timeout-negative'),
    case('publish_cache', publish(signing_key=at('not-a-key')), 'signing_key', at('not-a-key'), id='publish_cache-signing-key-garbage'),
    case('publish_cache', publish(store='s3://bucket/prefix', endpoint_url='not a url'), "endpoint_url 'not a url'",
         id='publish_cache-endpoint-not-a-url'),
    case('publish_cache', publish(access_key='AKIAEXAMPLE'), 'access_key', 'secret_key', id='publish_cache-access-key-alone'),

    # fetch_cache (target)
    case('fetch_cache', fetch(store='not a url'), "store 'not a url'", id='fetch_cache-store-not-a-url'),
    case('fetch_cache', fetch(store='file://' + at('missing-store')), at('missing-store'), 'does not exist',
         id='fetch_cache-store-missing'),
    case('fetch_cache', fetch(key='../../etc'), "key '../../etc' is not a valid name", id='fetch_cache-key-traversal'),
    case('fetch_cache', fetch(key=''), "key '' is not a valid name", id='fetch_cache-key-empty'),
    case('fetch_cache', fetch(channel='a/b'), "channel 'a/b' is not a valid name", id='fetch_cache-channel-with-slash'),
    case('fetch_cache', fetch(ecosystem='perl'), 'ecosystem must be one of: python, ruby', id='fetch_cache-ecosystem-unknown'),
    case('fetch_cache', fetch(dest=at('plain-file')), at('plain-file'), 'is not a directory', id='fetch_cache-dest-a-file'),
    case('fetch_cache', fetch(dest='relative/stage'), "'relative/stage' is a relative path", id='fetch_cache-dest-relative'),
    case('fetch_cache', fetch(keep=-1), 'keep is -1', id='fetch_cache-keep-negative'),
    case('fetch_cache', fetch(settled=['latest']), "settled holds 'latest'", id='fetch_cache-settled-not-a-digest'),
    case('fetch_cache', fetch(timeout=0), 'timeout is 0', id='fetch_cache-timeout-zero'),
    case('fetch_cache', fetch(trusted_keys=at('not-a-key')), 'trusted_keys', at('not-a-key'), 'allowed_signers',
         id='fetch_cache-trusted-keys-garbage'),
    case('fetch_cache', fetch(), "has no python cache for the environment key k", id='fetch_cache-key-not-in-channel'),
]

# Every module that reads a cache directory, given each broken manifest.
CACHE_READERS = [
    ('pip_offline', lambda cache: pip(cache=cache)),
    ('gem_offline', lambda cache: gem_install(cache=cache)),
    ('ship_cache', lambda cache: ship(src=cache)),
    ('publish_cache', lambda cache: publish(src=[cache])),
]
CASES += [case(module, args(at(name)), *((at(name),) + fragments), id='%s-%s' % (module, name))
          for module, args in CACHE_READERS for name, _text, fragments in BROKEN_CACHES]


def substitute(value, root):
    if isinstance(value, str):
        return value.replace(ROOT, root)
    if isinstance(value, list):
        return [substitute(item, root) for item in value]
    if isinstance(value, dict):
        return dict((key, substitute(item, root)) for key, item in value.items())
    return value


def lay_out_inputs(root):
    """The files and directories the cases name."""
    for name in ('empty', 'out', 'stage', 'store'):
        os.makedirs(os.path.join(root, name), mode=0o700)
    files = {'plain-file': 'not a directory\n', 'not-a-key': 'not a key\n', 'garbage.lock': 'GEM\n  remote: (((\n',
             'not-executable': '#!/bin/sh\n'}
    for name, text in files.items():
        with open(os.path.join(root, name), 'w') as handle:
            handle.write(text)
    for name, text, _fragments in BROKEN_CACHES:
        os.makedirs(os.path.join(root, name))
        with open(os.path.join(root, name, 'manifest.json'), 'w') as handle:
            handle.write(text)
    environment = platform_info.describe_running_python()
    for ecosystem, name in (('python', 'pkg'), ('ruby', 'rake')):
        cache = os.path.join(root, 'cache-' + ecosystem)
        os.makedirs(cache)
        write_manifest(cache, Manifest(ecosystem, environment if ecosystem == 'python' else {'key': 'ruby-key'},
                                       [TopLevel(name, name, [])], []))
    # A sound cache, and one whose manifest names a file it does not hold.
    good = os.path.join(root, 'cache-good')
    os.makedirs(good)
    with open(os.path.join(good, 'pkg-1.0-py3-none-any.whl'), 'wb') as handle:
        handle.write(b'abc')
    write_manifest(good, Manifest('python', environment, [TopLevel('pkg', 'pkg', [])],
                                  [Artifact('pkg-1.0-py3-none-any.whl', 'pkg', '1.0', 3, hashlib.sha256(b'abc').hexdigest())]))
    with open(os.path.join(root, 'cache-python', 'manifest.json')) as handle:
        data = json.load(handle)
    data['artifacts'] = [artifact()]
    with open(os.path.join(root, 'cache-python', 'manifest.json'), 'w') as handle:
        json.dump(data, handle)


@pytest.fixture(scope='module')
def outcomes(ansible, private_tmp_root):
    """Run every case as one task of one playbook; returns case id -> result."""
    root = os.path.join(private_tmp_root, 'bad-inputs')
    os.makedirs(root, mode=0o700)
    lay_out_inputs(root)
    tasks = []
    for param in CASES:
        module, args = param.values[:2]
        task = {'name': param.id, 'airgap.packages.' + module: substitute(args, root), 'ignore_errors': True}
        if module in ('wheel_cache', 'gem_cache'):
            # The action plugins answer some runs in-process; the environment keyword makes them run the module.
            tasks.append(dict(task, name=param.id + ' (module)', environment=MODULE_PATH_ENVIRONMENT))
        tasks.append(task)
    play = {'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
            'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': tasks}
    path = os.path.join(root, 'bad-inputs.yml')
    with open(path, 'w') as handle:
        json.dump([play], handle)
    run = ansible.playbook(path, inventory='localhost,')
    results = dict((task['task'], task['result']) for task in run.tasks)
    if not results:
        raise AssertionError('the playbook gave no results: %r' % run)
    return root, results


def test_the_table_holds_at_least_eighty_bad_inputs_across_every_module():
    assert len(CASES) >= 80
    modules = set(param.values[0] for param in CASES)
    assert modules == set(name[:-3] for name in os.listdir(os.path.join(os.path.dirname(__file__), '..', '..', 'plugins', 'modules'))
                          if name.endswith('.py'))


@pytest.mark.parametrize('module, args, fragments', CASES)
def test_a_bad_input_fails_with_a_message_naming_the_culprit_and_no_traceback(outcomes, request, module, args, fragments):
    root, results = outcomes
    case_id = request.node.callspec.id
    names = [case_id] + ([case_id + ' (module)'] if module in ('wheel_cache', 'gem_cache') else [])
    for name in names:
        result = results[name]
        message = result.get('msg', '')
        assert result.get('failed'), '%s did not fail: %r' % (name, result)
        for fragment in fragments:
            assert substitute(fragment, root) in message, '%s: %r does not name %r' % (name, message, fragment)
        # ansible-core 2.19 sets exception to a placeholder on every failure; a crash leaves a traceback.
        assert 'Traceback' not in json.dumps(result), '%s raised: %r' % (name, result)
        assert not message.startswith(('MODULE FAILURE', 'Unexpected failure', 'Task failed')), '%s crashed: %r' % (name, result)
