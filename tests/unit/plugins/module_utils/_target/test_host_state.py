# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which staged caches a host is settled on: verified, nothing to prune, environments matching."""

import hashlib
import multiprocessing
import os
import shutil
import time

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import VerificationError
from ansible_collections.airgap.packages.plugins.module_utils._common.fsutil import environment_lock
from ansible_collections.airgap.packages.plugins.module_utils._target.host_state import holdings, settled_digests, staged_digests
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, canonical_json


def stage(root, payload, age=0, ecosystem='python', filename='a-1.0-py3-none-any.whl', platform=''):
    """A staged cache of one artifact under root; returns its digest."""
    artifact = Artifact(filename, 'a', '1.0', len(payload), hashlib.sha256(payload).hexdigest(), platform=platform)
    manifest = Manifest(ecosystem, {'key': 'k'}, [], [artifact])
    path = os.path.join(root, manifest.digest)
    os.makedirs(path)
    with open(os.path.join(path, 'manifest.json'), 'wb') as handle:
        handle.write(canonical_json(manifest.to_dict()))
    with open(os.path.join(path, artifact.filename), 'wb') as handle:
        handle.write(payload)
    when = time.time() - age
    os.utime(path, (when, when))
    return manifest.digest


def always(path):
    return True


def test_a_verified_cache_whose_environments_match_is_settled(tmp_path):
    root = str(tmp_path)
    digest = stage(root, b'one')
    asked = []
    assert settled_digests(root, 2, lambda path: asked.append(path) or True) == [digest]
    assert asked == [os.path.join(root, digest)]


def test_a_cache_whose_environments_differ_is_not_settled(tmp_path):
    root = str(tmp_path)
    stage(root, b'one')
    assert settled_digests(root, 2, lambda path: False) == []


def test_an_altered_artifact_unsettles_its_cache_without_asking_the_environments(tmp_path):
    root = str(tmp_path)
    digest = stage(root, b'one')
    with open(os.path.join(root, digest, 'a-1.0-py3-none-any.whl'), 'ab') as handle:
        handle.write(b'x')
    asked = []
    assert settled_digests(root, 2, lambda path: asked.append(path) or True) == []
    assert asked == []


def test_a_cache_is_not_settled_while_ship_cache_would_prune_beside_it(tmp_path):
    root = str(tmp_path)
    newest = stage(root, b'new')
    older = stage(root, b'old', age=60)
    oldest = stage(root, b'oldest', age=120)
    # keep=2: keeping either of the two newest would prune the oldest, so none is settled yet.
    assert settled_digests(root, 2, always) == []
    assert sorted(settled_digests(root, 3, always)) == sorted([newest, older, oldest])
    shutil.rmtree(os.path.join(root, oldest))
    assert sorted(settled_digests(root, 2, always)) == sorted([newest, older])


def test_an_environment_error_leaves_the_cache_unsettled_for_the_install_module_to_report(tmp_path):
    root = str(tmp_path)
    stage(root, b'one')

    def broken(path):
        raise VerificationError('cannot read the environment')
    assert settled_digests(root, 2, broken) == []


def _hold_lock(root, ready, release):
    with environment_lock(root):
        ready.set()
        release.wait(10)


def test_holdings_list_every_digest_directory_and_ignore_the_rest(tmp_path):
    root = str(tmp_path / 'stage')
    os.mkdir(root)
    digest = stage(root, b'one')
    os.mkdir(os.path.join(root, '.incoming-abc'))
    os.mkdir(os.path.join(root, 'notes'))
    # A link under a digest's name is no staged cache (and ship_cache would prune it, so nothing would be settled).
    os.symlink(os.path.join(root, digest), os.path.join(root, 'e' * 64))
    assert staged_digests(root) == [digest]
    os.unlink(os.path.join(root, 'e' * 64))
    # The unpacking directory of a run in progress (it holds the staging lock) is that run's own.
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(root, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        assert holdings(root, 2, always) == {'stage': root, 'staged': [digest], 'settled': [digest]}
    finally:
        release.set()
        holder.join()
    assert holdings(os.path.join(root, 'missing'), 2, always) == {'stage': os.path.join(root, 'missing'),
                                                                  'staged': [], 'settled': []}


def test_a_leftover_of_a_run_that_is_gone_unsettles_the_stage_until_ship_cache_prunes_it(tmp_path):
    root = str(tmp_path)
    stage(root, b'one')
    os.mkdir(os.path.join(root, '.incoming-abc'))
    assert settled_digests(root, 2, always) == []
    os.rmdir(os.path.join(root, '.incoming-abc'))
    assert len(settled_digests(root, 2, always)) == 1


def test_a_stage_that_ship_cache_would_refuse_holds_nothing(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    digest = stage(str(real), b'one')
    os.symlink(str(real), str(tmp_path / 'linked'))
    assert holdings(str(tmp_path / 'linked'), 2, always) == {'stage': str(tmp_path / 'linked'), 'staged': [], 'settled': []}
    os.chmod(str(real), 0o777)
    assert holdings(str(real), 2, always)['settled'] == []
    os.chmod(str(real), 0o700)
    assert holdings(str(real), 2, always)['settled'] == [digest]


def test_one_ruby_run_describes_ruby_and_answers_every_staged_gem_cache(tmp_path, monkeypatch):
    from ansible_collections.airgap.packages.plugins.module_utils._target import host_state, platform_facts
    from ansible_collections.airgap.packages.plugins.module_utils._target.ruby import gem_target
    root, install_dir = str(tmp_path / 'stage'), str(tmp_path / 'gems')
    for payload in (b'one', b'two'):
        stage(root, payload, ecosystem='ruby', filename='a-1.0.gem', platform='ruby')
    os.chmod(str(tmp_path), 0o755)
    runs = []
    real = gem_target.probe
    monkeypatch.setattr(gem_target, 'probe', lambda command, *args, **kwargs: runs.append(command.ruby) or real(command, *args, **kwargs))

    class Module:
        def get_bin_path(self, name):
            return shutil.which(name)

    probe = host_state.gem_probe(root, install_dir)
    ruby = platform_facts.describe_ruby(Module(), 'ruby', probe)
    matches = host_state.gems_match(install_dir, [], probe=probe)
    settled = settled_digests(root, 2, matches)
    assert len(runs) == 1 and os.path.basename(runs[0]).startswith('ruby')
    assert ruby['key'].startswith('ruby-') and ruby['executable'] == shutil.which('ruby')
    # Both caches were planned (their made-up gems are refused when checked), neither settled, with no second probe.
    assert settled == [] and len(staged_digests(root)) == 2


def test_the_ruby_probe_is_recorded_in_a_trusted_gem_stage_only_and_never_in_check_mode(tmp_path, monkeypatch):
    from ansible_collections.airgap.packages.plugins.module_utils._target import host_state
    from ansible_collections.airgap.packages.plugins.module_utils._target.ruby import gem_target
    monkeypatch.setattr(gem_target, '_PROBE_RECORD_MARGIN_NS', 0)
    root, install_dir = str(tmp_path / 'stage'), str(tmp_path / 'gems')
    stage(root, b'one', ecosystem='ruby', filename='a-1.0.gem', platform='ruby')
    os.chmod(str(tmp_path), 0o755)

    def records():
        return [name for name in os.listdir(root) if name.startswith(gem_target.PROBE_RECORD_PREFIX)]

    first = host_state.gem_probe(root, install_dir, check_mode=True)
    assert records() == []
    assert host_state.gem_probe(root, install_dir) == first and len(records()) == 1
    os.unlink(os.path.join(root, records()[0]))
    os.chmod(root, 0o777)  # a stage anyone can write to: ship_cache refuses it, and nothing is recorded there
    host_state.gem_probe(root, install_dir)
    assert records() == []
