# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Undoing a failed installer run: new paths go, kept files come back as the very same files."""

import os

from ansible_collections.airgap.packages.plugins.module_utils._target.python import python_undo


def tree(root):
    """{relative path: (kind, inode or link target, content)} of everything under root."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if os.path.islink(path):
                found[relative] = ('l', os.readlink(path), None)
            elif os.path.isdir(path):
                found[relative] = ('d', None, None)
            else:
                with open(path, 'rb') as handle:
                    found[relative] = ('f', os.stat(path).st_ino, handle.read())
    return found


def venv(tmp_path):
    root = tmp_path / 'venv'
    site = root / 'lib' / 'site-packages'
    (site / 'old' / '__pycache__').mkdir(parents=True)
    (site / 'old' / '__init__.py').write_text('OLD = 1\n')
    (site / 'old' / '__pycache__' / '__init__.cpython-311.pyc').write_bytes(b'pyc')
    (site / 'old-1.0.dist-info').mkdir()
    (site / 'old-1.0.dist-info' / 'RECORD').write_text('old/__init__.py,,\n')
    (root / 'bin').mkdir()
    (root / 'bin' / 'old-tool').write_text('#!/bin/sh\n')
    os.symlink('lib', str(root / 'lib64'))
    return root, site


def test_undo_removes_what_the_run_added_and_puts_back_what_it_replaced_as_the_same_files(tmp_path):
    root, site = venv(tmp_path)
    before = tree(str(root))
    undo = python_undo.Undo.prepare([str(root)], [str(site / 'old' / '__init__.py'), str(site / 'old-1.0.dist-info' / 'RECORD')],
                                    copy=[str(root / 'bin' / 'old-tool')])
    # What an interrupted upgrade leaves: the old version half removed, the new one half written.
    os.unlink(str(site / 'old' / '__init__.py'))
    (site / 'old' / '__init__.py').write_text('NEW = 2\n')
    os.rename(str(site / 'old-1.0.dist-info'), str(site / '~ld-1.0.dist-info'))
    (site / 'new-2.0.dist-info').mkdir()
    (site / 'new-2.0.dist-info' / 'METADATA').write_text('Name: new\n')
    (root / 'bin' / 'old-tool').write_text('#!/bin/sh\necho replaced in place\n')
    os.unlink(str(root / 'lib64'))
    removed, restored, lost = undo.undo()
    undo.discard()
    after = tree(str(root))
    assert after.pop('bin/old-tool')[2] == before.pop('bin/old-tool')[2]  # a copy: the same content, another inode
    assert after == before
    assert str(site / 'new-2.0.dist-info') in removed and str(site / '~ld-1.0.dist-info') in removed
    assert str(site / 'old' / '__init__.py') in restored and str(root / 'lib64') in restored
    assert lost == []
    assert not [n for n in os.listdir(str(root)) if n.startswith(python_undo.KEEP_PREFIX)]


def test_a_changed_file_that_was_not_kept_is_reported_not_guessed(tmp_path):
    root, site = venv(tmp_path)
    undo = python_undo.Undo.prepare([str(root)], [])
    os.unlink(str(site / 'old' / '__init__.py'))
    removed, restored, lost = undo.undo()
    assert lost == [str(site / 'old' / '__init__.py')] and restored == []


def test_a_linked_file_rewritten_in_place_is_reported_lost_not_restored_with_the_new_content(tmp_path):
    root, site = venv(tmp_path)
    target = site / 'old' / '__init__.py'
    undo = python_undo.Undo.prepare([str(root)], [str(target)])
    with open(str(target), 'a') as handle:
        handle.write('APPENDED = 1\n')
    _removed, _restored, lost = undo.undo()
    assert lost == [str(target)]


def test_a_root_that_did_not_exist_is_removed_again_with_everything_in_it(tmp_path):
    root = tmp_path / 'site'
    undo = python_undo.Undo.prepare([str(root)], [])
    (root / 'pkg').mkdir(parents=True)
    (root / 'pkg' / 'x.py').write_text('x')
    undo.undo()
    assert not root.exists()


def test_keep_directories_of_killed_runs_are_removed_when_the_next_run_prepares(tmp_path):
    root, _site = venv(tmp_path)
    stale = root / (python_undo.KEEP_PREFIX + 'killed')
    stale.mkdir()
    (stale / '0').write_text('kept by a run that died')
    undo = python_undo.Undo.prepare([str(root)], [])
    assert not stale.exists() and os.path.isdir(undo.keep_dir)
    assert undo.keep_dir not in undo.entries  # the keep directory is not part of the environment
    undo.discard()
    assert not os.path.exists(undo.keep_dir)


def test_kept_files_cost_no_copy_of_their_data(tmp_path):
    root, site = venv(tmp_path)
    target = site / 'old' / '__init__.py'
    undo = python_undo.Undo.prepare([str(root)], [str(target)])
    assert os.stat(undo.kept[str(target)]).st_ino == os.stat(str(target)).st_ino
    undo.discard()
