# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import multiprocessing
import os

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import LockError
from ansible_collections.airgap.packages.plugins.module_utils._common.fsutil import atomic_write_bytes, environment_lock


def test_atomic_write_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / 'manifest.json'
    target.write_bytes(b'old')
    atomic_write_bytes(str(target), b'new')
    assert target.read_bytes() == b'new'
    assert os.listdir(str(tmp_path)) == ['manifest.json']


def _hold_lock(target, ready, release):
    with environment_lock(target):
        ready.set()
        release.wait(10)


def test_a_second_run_waits_for_the_lock_and_gives_up_with_a_clear_error(tmp_path):
    target = str(tmp_path / 'venv')
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(target, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LockError, match='another run has held the lock'):
            with environment_lock(target, timeout=0.3):
                pass
    finally:
        release.set()
        holder.join()
    with environment_lock(target, timeout=1):
        pass
