# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cache directories wheel_cache and gem_cache keep: workspaces, placing, pruning, locks."""

import os

from ansible_collections.airgap.packages.plugins.module_utils._controller import cache_dir


def test_a_workspace_in_use_is_not_abandoned_and_one_whose_run_is_gone_is(tmp_path):
    dest = str(tmp_path)
    with cache_dir.workspace(dest) as scratch:
        assert os.path.dirname(scratch) == dest and os.path.basename(scratch).startswith(cache_dir.WORKSPACE_PREFIX)
        assert cache_dir.abandoned_workspaces(dest) == []
        gone = tmp_path / (cache_dir.WORKSPACE_PREFIX + 'killed')
        gone.mkdir()
        (gone / 'half.whl').write_bytes(b'x')
        assert cache_dir.abandoned_workspaces(dest) == [str(gone)]
        cache_dir.remove_abandoned_workspaces(dest)
        assert not gone.exists() and os.path.isdir(scratch)
    assert not os.path.exists(scratch)


def test_a_link_named_like_a_workspace_is_never_followed_or_removed(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'keep').write_bytes(b'x')
    dest = tmp_path / 'dest'
    dest.mkdir()
    os.symlink(str(outside), str(dest / (cache_dir.WORKSPACE_PREFIX + 'link')))
    cache_dir.remove_abandoned_workspaces(str(dest))
    assert (outside / 'keep').exists() and os.path.islink(str(dest / (cache_dir.WORKSPACE_PREFIX + 'link')))


def test_a_source_is_linked_into_the_first_cache_and_copied_into_the_others(tmp_path):
    with cache_dir.workspace(str(tmp_path)) as scratch:
        source = os.path.join(scratch, 'a.whl')
        with open(source, 'wb') as handle:
            handle.write(b'wheel')
        placer = cache_dir.Placer(scratch)
        placer.place(source, str(tmp_path / 'one' / 'a.whl'))
        placer.place(source, str(tmp_path / 'two' / 'a.whl'))
        assert os.stat(source).st_ino == os.stat(str(tmp_path / 'one' / 'a.whl')).st_ino
        assert os.stat(source).st_ino != os.stat(str(tmp_path / 'two' / 'a.whl')).st_ino
        assert (tmp_path / 'two' / 'a.whl').read_bytes() == b'wheel'
        assert sorted(os.listdir(scratch)) == ['.in-use', 'a.whl']


def test_pruning_keeps_the_listed_files_and_the_manifest_companions(tmp_path):
    for name in ('a.whl', 'old.whl', 'manifest.json', 'manifest.json.sig', 'pylock.toml', '.stray'):
        (tmp_path / name).write_bytes(b'x')
    assert cache_dir.prune(str(tmp_path), ['a.whl'], check_mode=True) == ['.stray', 'old.whl']
    assert len(os.listdir(str(tmp_path))) == 6
    assert cache_dir.prune(str(tmp_path), ['a.whl']) == ['.stray', 'old.whl']
    assert sorted(os.listdir(str(tmp_path))) == ['a.whl', 'manifest.json', 'manifest.json.sig', 'pylock.toml']


def test_a_check_mode_run_creates_no_lock_file_and_a_real_one_does(tmp_path):
    with cache_dir.locked(str(tmp_path), ['key'], check_mode=True):
        pass
    assert os.listdir(str(tmp_path)) == []
    with cache_dir.locked(str(tmp_path), ['key']):
        pass
    assert os.listdir(str(tmp_path)) == ['.key.airgap-lock']
