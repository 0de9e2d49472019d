# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the pip_offline tests and benchmark: build a wheel cache, ship a directory to a host.

build_cache() makes a cache the way wheel_cache lays it out (wheels + manifest.json with
per-requirement closures) using the controller's pip: pip download, then one
`pip install --dry-run --report` per top-level requirement for its closure.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

from runner import REPO

from ansible_collections.airgap.packages.plugins.module_utils._common.scripts.interpreter_probe import normalise_name
from ansible_collections.airgap.packages.plugins.module_utils._target.python.python_env import clean_environment
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact, Manifest, TopLevel, sha256_file, write_manifest)


def _pip(argv, python=None):
    command = [python or sys.executable, '-m', 'pip', '--isolated', '--disable-pip-version-check'] + argv
    done = subprocess.run(command, capture_output=True, text=True, env=clean_environment(), check=False)
    if done.returncode != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(command), done.stderr[-3000:]))
    return done.stdout


def installer_wheels():
    """pip and uv wheels: from `make venv`'s index extras when it put them there, else fetched once from PyPI."""
    extras = os.path.join(REPO, '.cache', 'index-extras')
    found = dict((name, sorted(glob.glob(os.path.join(extras, '%s-*.whl' % name)))) for name in ('pip', 'uv'))
    if all(found.values()):
        return dict((name, paths[-1]) for name, paths in found.items())
    return tool_wheels(os.path.join(REPO, '.cache', 'pip-offline-tools'))


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
            item_name = normalise_name(item['metadata']['name'])
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
    name, version = normalise_name(parts[0]), parts[1]
    path = os.path.join(directory, filename)
    return Artifact(filename, name, version, os.path.getsize(path), sha256_file(path), platform='-'.join(parts[-3:]),
                    requires=(requires or {}).get(name, []), source='tests')
