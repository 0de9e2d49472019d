# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is baked into the image of a node that runs the collection's playbook on itself (pull mode).

A virtualenv of the system Python (/usr/bin/python3, the interpreter the offline hosts have) with the
pinned ansible-core and boto3 of node-image-requirements.txt, and a copy of this working copy's
collection. The hosts are overlays of this machine's root with /opt and /work hidden, so the image
lives under /var/tmp, which every host sees (what a host writes there stays in its own overlay).
It is built once per requirements file and reused; a stamp written last marks it complete, so an image
that a killed run left half-built is built again.

Build and install before starting the hosts that use the image (seen here): a host whose overlay looked
up a path before it existed keeps missing it, and one that had read the collection keeps seeing the old
copy after install_collection() replaced it. A host that had not looked sees the new files.

    python3 tests/harness/node_image.py   # build (or reuse) the image and install the collection
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys

HARNESS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HARNESS))
REQUIREMENTS = os.path.join(HARNESS, 'node-image-requirements.txt')
IMAGES = '/var/tmp/airgap-packages-node-image'
SYSTEM_PYTHON = '/usr/bin/python3'
# What of the working copy makes the installed collection.
COLLECTION_PARTS = ('galaxy.yml', 'meta', 'plugins', 'roles', 'playbooks')
NAMESPACE, NAME = 'airgap', 'packages'


class NodeImage:
    """The image directory for one requirements file: venv/, collections/, callback_plugins/, and its stamp."""

    def __init__(self, requirements=REQUIREMENTS, images=IMAGES, system_python=SYSTEM_PYTHON):
        self.requirements = requirements
        self.system_python = system_python
        with open(requirements, 'rb') as handle:
            digest = hashlib.sha256(handle.read() + system_python.encode()).hexdigest()[:12]
        self.path = os.path.join(images, digest)
        self.venv = os.path.join(self.path, 'venv')
        self.stamp = os.path.join(self.path, 'complete')

    @property
    def python(self):
        return os.path.join(self.venv, 'bin', 'python')

    @property
    def ansible_playbook(self):
        return os.path.join(self.venv, 'bin', 'ansible-playbook')

    @property
    def collections_path(self):
        return os.path.join(self.path, 'collections')

    @property
    def collection(self):
        return os.path.join(self.collections_path, 'ansible_collections', NAMESPACE, NAME)

    @property
    def callback_plugins(self):
        """The suite's results callback, so that a test can read a node's run as it reads the controller's."""
        return os.path.join(self.path, 'callback_plugins')

    @property
    def built(self):
        return os.path.exists(self.stamp)

    def build(self):
        """Make the venv with pip from the package index, unless a complete one is there."""
        with self._lock():
            if self.built:
                return self
            shutil.rmtree(self.venv, ignore_errors=True)
            _run([self.system_python, '-m', 'venv', self.venv])
            _run([self.python, '-m', 'pip', 'install', '--no-input', '--only-binary=:all:', '-r', self.requirements],
                 env=_pip_environment())
            _run([self.python, '-c', 'import ansible, boto3'])
            with open(self.requirements) as source, open(self.stamp + '.tmp', 'w') as handle:
                handle.write(source.read())
            os.rename(self.stamp + '.tmp', self.stamp)
        return self

    def install_collection(self, source=REPO):
        """Put this working copy's collection into the image, replacing an older copy (a copy, not a link:
        the hosts cannot see /work). The same content already there is left as it is."""
        digest = _tree_digest(source)
        with self._lock():
            marker = os.path.join(self.collection, '.source-digest')
            if _read(marker) != digest:
                staging = self.collection + '.new'
                shutil.rmtree(staging, ignore_errors=True)
                os.makedirs(staging)
                for part in _parts(source):
                    origin = os.path.join(source, part)
                    if os.path.isdir(origin):
                        shutil.copytree(origin, os.path.join(staging, part), ignore=_ignored)
                    else:
                        shutil.copy2(origin, staging)
                with open(os.path.join(staging, '.source-digest'), 'w') as handle:
                    handle.write(digest)
                old = self.collection + '.old'
                shutil.rmtree(old, ignore_errors=True)
                if os.path.exists(self.collection):
                    os.rename(self.collection, old)
                os.rename(staging, self.collection)
                shutil.rmtree(old, ignore_errors=True)
            shutil.copytree(os.path.join(HARNESS, 'callback'), self.callback_plugins, ignore=_ignored, dirs_exist_ok=True)
        return self

    def environment(self, results=False):
        """The variables a node's ansible-playbook runs with: this image's collection and Python, no colour."""
        env = {
            'ANSIBLE_COLLECTIONS_PATH': self.collections_path,
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_PYTHON_INTERPRETER': self.python,
            'ANSIBLE_RETRY_FILES_ENABLED': 'False',
            'ANSIBLE_DEPRECATION_WARNINGS': 'False',
            'ANSIBLE_LOCALHOST_WARNING': 'False',
            'LANG': 'C.UTF-8',
        }
        if results:
            env.update({'ANSIBLE_STDOUT_CALLBACK': 'airgap_results', 'ANSIBLE_CALLBACK_PLUGINS': self.callback_plugins})
        return env

    def pull_argv(self, playbook='airgap.packages.pull', extra_vars_file=None, results=False):
        """The command a node's boot script runs: the playbook on the node itself over the local connection.

        results: print the suite's one JSON document of task results (runner.py reads it) instead of the default output.
        """
        argv = ['env'] + ['%s=%s' % item for item in sorted(self.environment(results).items())]
        argv += [self.ansible_playbook, '-c', 'local', '-i', 'localhost,', playbook]
        if extra_vars_file:
            argv += ['-e', '@%s' % extra_vars_file]
        return argv

    @contextlib.contextmanager
    def _lock(self):
        """One builder or installer at a time, also across test sessions and xdist workers."""
        os.makedirs(self.path, exist_ok=True)
        with open(os.path.join(self.path, '.lock'), 'w') as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


class PullNode:
    """An offline host that runs the pull playbook on itself from an image, as its boot script would.

    Its runs report the host as localhost: the playbook runs on the node over the local connection.
    """

    VARS = '/etc/airgap/vars.yml'

    def __init__(self, fleet, name, image, credentials=None):
        self.fleet = fleet
        self.name = name
        self.image = image
        self.credentials = credentials or {}

    def write_vars(self, variables):
        """What user-data would write: the role's variables, as /etc/airgap/vars.yml."""
        self.fleet.run(self.name, ['sh', '-c', 'mkdir -p /etc/airgap && cat > %s' % self.VARS],
                       input=json.dumps(variables), check=True)

    def pull(self, variables=None):
        """Run the pull playbook on the node; returns a runner.PlaybookRun."""
        from runner import PlaybookRun, results_document
        if variables is not None:
            self.write_vars(variables)
        argv = self.image.pull_argv(extra_vars_file=self.VARS, results=True)
        # As an instance profile would: the credentials reach boto3 through its standard chain.
        argv[1:1] = ['AWS_ACCESS_KEY_ID=%s' % self.credentials.get('aws_access_key_id', ''),
                     'AWS_SECRET_ACCESS_KEY=%s' % self.credentials.get('aws_secret_access_key', '')]
        completed = self.fleet.run(self.name, argv, timeout=900)
        return PlaybookRun(completed, results_document(completed.stdout))

    def sh(self, command):
        return self.fleet.run(self.name, ['sh', '-c', command])


def _ignored(_directory, names):
    return [name for name in names if name == '__pycache__' or name.endswith('.pyc')]


def _parts(source):
    return [part for part in COLLECTION_PARTS if os.path.exists(os.path.join(source, part))]


def _files(origin):
    if os.path.isfile(origin):
        return [origin]
    found = []
    for directory, dirs, names in os.walk(origin):
        dirs[:] = sorted(name for name in dirs if name != '__pycache__')
        found += [os.path.join(directory, name) for name in sorted(names) if not name.endswith('.pyc')]
    return found


def _tree_digest(source):
    """sha256 over the relative paths and contents of the collection's files."""
    digest = hashlib.sha256()
    for part in _parts(source):
        for path in _files(os.path.join(source, part)):
            digest.update(os.path.relpath(path, source).encode() + b'\0')
            with open(path, 'rb') as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def _pip_environment():
    """This machine's pip configuration adds local mirrors and constraints: the image must not depend on them."""
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith('PIP_'))
    env['PIP_CONFIG_FILE'] = os.devnull
    env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
    return env


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _run(argv, env=None):
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(argv), result.returncode, (result.stdout + result.stderr)[-3000:]))
    return result


def main():
    image = NodeImage().build().install_collection()
    print(image.path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
