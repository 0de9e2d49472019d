# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the whole suite: offline hosts, local package sources, the ansible CLI, and the parts
of pull mode: the endpoint address, an S3 endpoint on it, the node image."""

import glob
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'harness'))

from endpoint import EndpointAddress  # noqa: E402
from hosts import HostFleet  # noqa: E402
from node_image import NodeImage  # noqa: E402
from runner import REPO, Ansible, collections_root  # noqa: E402
from s3 import S3Endpoint  # noqa: E402
from sources import GemSource, PythonIndex  # noqa: E402

# Build backend wheels downloaded by `make venv`, so that the fixture index can build sdists offline.
INDEX_EXTRAS = os.path.join(REPO, '.cache', 'index-extras')


# Unit and integration tests import the collection's module_utils as Ansible does.
sys.path.insert(0, collections_root())


@pytest.fixture(scope='session')
def private_tmp_root():
    """A directory under the user's own ~/.cache that only its owner can write to, from the root down. Staging
    refuses a directory below one that others can write (such as /tmp, where pytest keeps tmp_path)."""
    parent = os.path.join(os.path.expanduser('~'), '.cache', 'airgap-packages-tests')
    os.makedirs(parent, mode=0o700, exist_ok=True)
    root = tempfile.mkdtemp(prefix='tmp-', dir=parent)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='session')
def offline_hosts(tmp_path_factory):
    """Two offline target hosts for the whole session."""
    fleet = HostFleet(str(tmp_path_factory.mktemp('offline-hosts')))
    fleet.start(2)
    yield fleet
    fleet.stop()


@pytest.fixture(scope='session')
def gem_source(tmp_path_factory):
    source = GemSource(str(tmp_path_factory.mktemp('gem-source'))).build().start()
    yield source
    source.stop()


@pytest.fixture(scope='session')
def python_index(tmp_path_factory):
    extras = sorted(glob.glob(os.path.join(INDEX_EXTRAS, '*.whl')))
    index = PythonIndex(str(tmp_path_factory.mktemp('python-index')), extra_files=extras).build().start()
    yield index
    index.stop()


@pytest.fixture(scope='session')
def ansible():
    """The ansible CLI against this working copy; pass inventory= per call or use offline_hosts.inventory."""
    return Ansible()


@pytest.fixture(scope='session')
def fleet_ansible(offline_hosts):
    """The ansible CLI with the session's offline hosts as inventory."""
    return Ansible(inventory=offline_hosts.inventory)


@pytest.fixture(scope='session')
def vpc_endpoint():
    """The endpoint address on the root namespace's lo for the session; hosts reach it after fleet.reach(it)."""
    with EndpointAddress() as endpoint:
        yield endpoint.address


@pytest.fixture(scope='session')
def s3_endpoint(vpc_endpoint, tmp_path_factory):
    """moto's S3 server on the endpoint address, refusing any but its users' keys (credentials: s3:*)."""
    endpoint = S3Endpoint(str(tmp_path_factory.mktemp('s3-endpoint')), address=vpc_endpoint, authenticated=True).start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope='session')
def node_image():
    """The pull node image, built once per requirements file, with this working copy's collection.

    Request it before starting the hosts that use it (see node_image.py).
    """
    return NodeImage().build().install_collection()
