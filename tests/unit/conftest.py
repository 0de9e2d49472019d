# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests stage caches into tmp_path. Staging refuses a directory below one that others can write (such as
/tmp, where pytest keeps its own, or /var/tmp, where a clone may live), so here tmp_path lives under the
user's own ~/.cache instead (private_tmp_root, in tests/conftest.py)."""

import tempfile

import pytest


@pytest.fixture
def tmp_path(private_tmp_root, request):
    """A new empty directory per test, in a place only its owner can write to, like pytest's own tmp_path."""
    import pathlib
    name = ''.join(c if c.isalnum() else '_' for c in request.node.name)[:40]
    return pathlib.Path(tempfile.mkdtemp(prefix=name + '-', dir=private_tmp_root))


@pytest.fixture
def change_in_place():
    """change(path): flip the first byte of the file, keeping its size, and put its mtime back: only its ctime tells."""
    import os

    def change(path):
        before = os.stat(path)
        with open(path, 'r+b') as handle:
            first = handle.read(1)
            handle.seek(0)
            handle.write(bytes([first[0] ^ 1]))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(path)
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    return change
