# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_offline: verify a gem cache and make an install dir hold what its manifest pins.

probe → choose and verify artifacts → plan → check each gem the plan installs (gem_check) →
(lock, probe and plan again, check the toolchain, stage with `gem install --local`, move into
place, remove, probe to confirm). Check mode and a converged install dir stop after the plan: gem
is not run. Runs on targets: standard library only.
"""

import os
import shutil

from . import gem_check
from . import gem_plan
from . import gem_target
from .gem_plan import check_gem_name
from ..plans import changes_as_dicts, plan_diff
from ..._common import process
from ..._common.errors import AirgapError, InstallError
from ..._common.fsutil import check_directory_to_write, environment_lock, private_tempdir, remove_leftovers
from ..._common.manifest import load_manifest, verify_artifacts
from ..._common.signing import trust_from


DEFAULT_EXECUTABLE = 'gem'


class GemOfflineRequest:
    """The module's options, as plain values."""

    def __init__(self, cache, gems=(), install_dir=None, user_install=False, bindir=None, executable=DEFAULT_EXECUTABLE,
                 state='present', sync=False, document=False, trusted_keys=None):
        for option, path in (('install_dir', install_dir), ('bindir', bindir)):
            if path:
                check_directory_to_write(option, path)
        for name in gems or ():
            check_gem_name(name)
        self.cache = os.path.abspath(cache)
        self.gems = list(gems or [])
        self.install_dir = os.path.abspath(install_dir) if install_dir else None
        self.user_install = bool(user_install)
        self.bindir = os.path.abspath(bindir) if bindir else None
        self.executable = executable or 'gem'
        self.state = state
        self.sync = bool(sync)
        self.document = bool(document)
        self.trusted_keys = trusted_keys


class _Plan:
    def __init__(self, probe, artifacts, steps, kept):
        self.probe = probe
        self.artifacts = artifacts
        self.steps = steps
        self.kept = kept


class GemOffline:
    """One run of gem_offline against one install dir."""

    def __init__(self, request, environ=None, check_mode=False, runner=process.run, probe=None):
        """probe: a gem_target probe of the install dir made already (host_state's), for the first plan."""
        self.request = request
        self.environ = dict(os.environ if environ is None else environ)
        self.check_mode = check_mode
        self.runner = runner
        self.verified = []
        self._given_probe = probe

    def run(self):
        """The result dict of the module (without 'diff' unless asked for by the caller)."""
        request = self.request
        if request.state == 'absent' and request.sync:
            raise AirgapError('sync removes gems the manifest does not list and only applies to state=present; drop sync or use state=present')
        manifest = load_manifest(request.cache, trust_from(request.trusted_keys))
        self.manifest = manifest
        self.command = gem_target.locate_gem(request.executable, self.environ.get('PATH', os.defpath))
        plan = self._plan()
        if plan.steps and not self.check_mode:
            try:
                plan = self._apply(plan.probe.gem_dir)
            except (IOError, OSError) as exc:
                raise InstallError('cannot change %s: %s%s. Run as a user who may write there (become), or choose another '
                                   'install_dir or user_install' % (plan.probe.gem_dir, exc.strerror or exc,
                                                                    ' (%s)' % exc.filename if getattr(exc, 'filename', None) else ''))
        return self._result(plan)

    def _plan(self):
        """Probe, choose, verify and plan; read-only."""
        request, manifest = self.request, self.manifest
        platforms = set(gem_plan.platform_of(a.platform) for a in manifest.artifacts)
        probe, self._given_probe = self._given_probe, None
        if (probe is None or os.path.realpath(probe.ruby) != os.path.realpath(self.command.ruby)
                or not platforms <= set(probe.platform_fits)):
            probe = gem_target.probe(self.command, self.environ, request.install_dir, request.user_install, platforms, self.runner)
        if probe.unreadable:
            raise AirgapError('%s cannot be read by %s; remove or repair these specifications before managing %s'
                              % (', '.join(probe.unreadable), self.command.ruby, probe.gem_dir), unreadable=probe.unreadable)
        if request.state == 'absent':
            return self._plan_absent(probe)
        artifacts = gem_plan.selected_artifacts(manifest, request.gems, lambda platform: probe.platform_fits.get(platform, False))
        # Verify every needed file before anything else happens, converged or not.
        verify_artifacts(request.cache, artifacts)
        self.verified = [a.filename for a in artifacts]
        gem_plan.check_dependencies(request.cache, artifacts, probe.default_gems)
        steps = gem_plan.plan_present(artifacts, probe.installed, request.sync, [a.name for a in manifest.artifacts])
        for artifact in sorted(set(a for step in steps for a in step.install), key=lambda a: a.filename):
            gem_check.check_gem(os.path.join(request.cache, artifact.filename), artifact.name, artifact.version,
                                gem_plan.platform_of(artifact.platform))
        gem_plan.check_toolchain(steps, probe.toolchain)
        return _Plan(probe, artifacts, steps, {})

    def _plan_absent(self, probe):
        manifest, request = self.manifest, self.request
        scope = manifest.artifacts_for(request.gems)
        names = sorted(set(a.name for a in scope))
        keep = set()
        if request.gems:
            others = [top.name for top in manifest.requirements if top.name not in request.gems]
            keep = set(a.name for a in manifest.artifacts_for(others)) if others else set()
        steps, kept = gem_plan.plan_absent(names, probe.installed, keep)
        return _Plan(probe, scope, steps, kept)

    def _apply(self, gem_dir):
        """Under the install dir's lock: plan again, stage, move into place, remove, confirm."""
        request = self.request
        with environment_lock(gem_dir):
            plan = self._plan()
            if not plan.steps:
                return plan
            install_dir = plan.probe.gem_dir
            bindir = request.bindir or plan.probe.bindir
            if not os.path.isdir(install_dir):
                os.makedirs(install_dir)
            remove_leftovers(install_dir, gem_target.STAGING_PREFIX)
            staging = private_tempdir(install_dir, gem_target.STAGING_PREFIX)
            try:
                to_install = gem_plan.install_order([a for step in plan.steps for a in step.install])
                if to_install:
                    files = [os.path.join(request.cache, a.filename) for a in to_install]
                    root = gem_target.stage_install(self.command, self.environ, staging, install_dir, files, request.document, self.runner)
                    trash = os.path.join(staging, 'trash')
                    os.mkdir(trash, 0o700)
                    gem_target.merge_staged(root, install_dir, bindir, trash)
                removals = sorted(g.full_name for step in plan.steps for g in step.remove)
                if removals:
                    gem_target.uninstall(self.command, self.environ, staging, install_dir, bindir, removals, self.runner)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            after = self._plan()
            if after.steps:
                raise InstallError('%s still differs from the manifest after installing: %s'
                                   % (install_dir, '; '.join('%s %s' % (s.change.name, s.change.action) for s in after.steps)),
                                   remaining=changes_as_dicts(gem_plan.steps_changes(after.steps)))
            return _Plan(after.probe, plan.artifacts, plan.steps, plan.kept)

    def _result(self, plan):
        changes = gem_plan.steps_changes(plan.steps)
        result = {
            'changed': bool(changes),
            'install_dir': plan.probe.gem_dir,
            'bindir': self.request.bindir or plan.probe.bindir,
            'manifest_digest': self.manifest.digest,
            'environment_key': self.manifest.environment_key,
            'state': self.request.state,
            'changes': changes_as_dicts(changes),
            'gems': gem_plan.per_gem_report(plan.artifacts, plan.probe.installed, plan.steps),
            'verified': list(self.verified),
            'kept': plan.kept,
        }
        self.diff = dict(plan_diff(changes), before_header=plan.probe.gem_dir, after_header=plan.probe.gem_dir)
        return result
