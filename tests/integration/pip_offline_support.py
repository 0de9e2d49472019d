# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the pip_offline tests and benchmark: build a wheel cache, ship a directory to a host.

build_cache() makes a cache the way wheel_cache lays it out (wheels + manifest.json with
per-requirement closures) using the controller's pip: pip download, then one
`pip install --dry-run --report` per top-level requirement for its closure.
"""

import json
import os
import re
import shutil
import subprocess
import sys

from ansible_collections.airgap.packages.plugins.module_utils.manifest import (
    Artifact, Manifest, TopLevel, sha256_file, write_manifest)


def normalise(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def clean_env():
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('PIP_', 'UV_', 'PYTHON')))
    env['PIP_CONFIG_FILE'] = os.devnull
    return env


def _pip(argv, python=None):
    command = [python or sys.executable, '-m', 'pip', '--isolated', '--disable-pip-version-check'] + argv
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(command), done.stderr[-3000:]))
    return done.stdout


def tool_wheels(directory, names=('pip', 'uv')):
    """Local wheels of pip and uv: taken from directory when there, else downloaded from PyPI into it once."""
    os.makedirs(directory, exist_ok=True)
    found = {}
    for name in names:
        matches = sorted(f for f in os.listdir(directory) if f.startswith(name + '-') and f.endswith('.whl'))
        if not matches:
            _pip(['download', '--only-binary', ':all:', '--no-deps', '--no-cache-dir', '-d', directory, name])
            matches = sorted(f for f in os.listdir(directory) if f.startswith(name + '-') and f.endswith('.whl'))
        found[name] = os.path.join(directory, matches[-1])
    return found


def build_cache(dest, requirements, index_url=None, tools=(), key='test-cp311-x86_64'):
    """Download requirements (binary only) into dest and write its manifest; returns the Manifest.

    tools (paths of pip and uv wheels) are added as artifacts outside every requirement's
    closure: pip_offline uses them to install and never installs them as packages of their own.
    """
    os.makedirs(dest, exist_ok=True)
    source = ['--index-url', index_url] if index_url else []
    _pip(['download', '--only-binary', ':all:', '--no-cache-dir', '-d', dest] + source + list(requirements))
    for path in tools:
        shutil.copy(path, dest)
    tops, requires = [], {}
    for requirement in requirements:
        report = json.loads(_pip(['install', '--dry-run', '--ignore-installed', '--no-index', '--find-links', dest,
                                  '--only-binary', ':all:', '--quiet', '--report', '-', requirement]))
        closure, name = [], None
        for item in report['install']:
            item_name = normalise(item['metadata']['name'])
            closure.append(item_name)
            requires[item_name] = sorted(item['metadata'].get('requires_dist', []))
            if item.get('requested'):
                name = item_name
        tops.append(TopLevel(requirement, name, closure))
    artifacts = [artifact_for(dest, filename, requires) for filename in sorted(os.listdir(dest))
                 if filename.endswith('.whl')]
    manifest = Manifest('python', {'key': key}, tops, artifacts, generator='tests')
    write_manifest(dest, manifest)
    return manifest


def artifact_for(directory, filename, requires=None):
    parts = filename[:-4].split('-')
    name, version = normalise(parts[0]), parts[1]
    path = os.path.join(directory, filename)
    return Artifact(filename, name, version, os.path.getsize(path), sha256_file(path), platform='-'.join(parts[-3:]),
                    requires=(requires or {}).get(name, []), source='tests')


def push_dir(fleet, host, local, remote):
    """Copy a directory to a host as one tar stream over the fleet's ssh (replacing what was there)."""
    tar = subprocess.Popen(['tar', '-C', local, '-cf', '-', '.'], stdout=subprocess.PIPE)
    command = 'rm -rf %s && mkdir -p %s && tar -C %s -xf -' % (remote, remote, remote)
    done = subprocess.run(fleet.ssh_argv(host) + ['--', command], stdin=tar.stdout, capture_output=True, check=False)
    tar.wait()
    if done.returncode != 0 or tar.returncode != 0:
        raise RuntimeError('copying %s to %s:%s failed: %s' % (local, host, remote, done.stderr.decode()[-2000:]))


def make_wheel(directory, name, version, requires=()):
    """A minimal pure-Python wheel (one module, valid RECORD) for packages the fixture index lacks."""
    import base64
    import hashlib
    import zipfile
    module = name.replace('-', '_')
    dist_info = '%s-%s.dist-info' % (module, version)
    files = {
        '%s/__init__.py' % module: '__version__ = %r\n' % version,
        '%s/METADATA' % dist_info: 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s' % (
            name, version, ''.join('Requires-Dist: %s\n' % r for r in requires)),
        '%s/WHEEL' % dist_info: 'Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()
        record.append('%s,sha256=%s,%d' % (path, digest, len(text.encode())))
    record.append('%s/RECORD,,' % dist_info)
    files['%s/RECORD' % dist_info] = '\n'.join(record) + '\n'
    path = os.path.join(directory, '%s-%s-py3-none-any.whl' % (module, version))
    with zipfile.ZipFile(path, 'w') as archive:
        for member in sorted(files):
            info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, files[member])
    return path
