# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ship_cache's controller side: what it tells the target about the archive before sending it."""

import hashlib
import os
import tarfile

import pytest

from ansible_collections.airgap.packages.plugins.action.ship_cache import archive_names, archive_size, check_dest, write_archive
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, load_manifest, write_manifest


@pytest.mark.parametrize('sizes', [[0], [1, 511, 512, 513], [200000, 10240 * 3], [5] * 40])
def test_the_archive_size_told_before_sending_is_the_size_of_the_archive_sent(tmp_path, sizes):
    src = tmp_path / 'cache'
    src.mkdir()
    artifacts = []
    for index, size in enumerate(sizes):
        # Long names take pax headers of their own.
        filename = 'pkg%d-%s-1.0-py3-none-any.whl' % (index, 'x' * (index * 7 % 180))
        payload = os.urandom(size)
        (src / filename).write_bytes(payload)
        artifacts.append(Artifact(filename, 'pkg%d' % index, '1.0', size, hashlib.sha256(payload).hexdigest()))
    write_manifest(str(src), Manifest('python', {'key': 'k'}, [], artifacts))
    manifest = load_manifest(str(src))
    told = archive_size(str(src), archive_names(str(src), manifest))
    sent = tmp_path / 'sent.tar'
    assert write_archive(str(src), manifest, str(sent)) == told
    # The file on disk, not only write_archive's own answer, has that size and holds the manifest and every artifact.
    assert sent.stat().st_size == told and told % tarfile.RECORDSIZE == 0
    with tarfile.open(str(sent)) as archive:
        assert sorted(archive.getnames()) == sorted(['manifest.json'] + [a.filename for a in artifacts])


@pytest.mark.parametrize('dest', ['relative/stage', 'stage', ''])
def test_a_relative_dest_is_refused_on_the_controller(dest):
    with pytest.raises(AirgapError, match='is a relative path: give an absolute path'):
        check_dest(dest)
    assert check_dest('/var/cache/airgap-packages') and check_dest('~/stage')
