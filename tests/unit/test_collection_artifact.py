# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built collection artifact holds the collection and none of the working tree's by-products."""

import os
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = ('platform_facts', 'wheel_cache', 'gem_cache', 'pip_offline', 'gem_offline', 'ship_cache')
BY_PRODUCTS = ('.venv/', '.cache/', 'build/', 'collections/', 'tests/output/', '.git/', '__pycache__/', '.pytest_cache/')


@pytest.fixture(scope='module')
def artifact_members(tmp_path_factory):
    output = os.path.join(REPO, 'tests', 'output')
    created = not os.path.exists(output)
    os.makedirs(output, exist_ok=True)
    probe = os.path.join(output, 'artifact-probe.txt')
    with open(probe, 'w') as handle:
        handle.write('test output that must not be packaged\n')
    try:
        destination = str(tmp_path_factory.mktemp('artifact'))
        galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
        subprocess.run([galaxy, 'collection', 'build', '--force', '--output-path', destination, REPO],
                       check=True, capture_output=True)
        with tarfile.open(os.path.join(destination, 'airgap-packages-0.1.0.tar.gz')) as archive:
            return archive.getnames()
    finally:
        os.unlink(probe)
        if created:
            os.rmdir(output)


def test_artifact_contains_every_module_the_role_and_the_playbooks(artifact_members):
    for module in MODULES:
        assert 'plugins/modules/%s.py' % module in artifact_members
    assert 'plugins/action/ship_cache.py' in artifact_members
    assert 'roles/offline_install/meta/argument_specs.yml' in artifact_members
    for playbook in ('build', 'install', 'site', 'describe'):
        assert 'playbooks/%s.yml' % playbook in artifact_members
    assert 'meta/runtime.yml' in artifact_members and 'LICENSE' in artifact_members


def test_artifact_holds_no_test_output_virtualenv_or_cache(artifact_members):
    leaked = [name for name in artifact_members if any(part in name + '/' for part in BY_PRODUCTS)]
    assert leaked == []
