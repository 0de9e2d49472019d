# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans: what must change in an environment so that it holds what a manifest pins.

Computed from what is installed versus what is desired, never from an installer's output;
check mode, diff and the real run all report the same plan. Standard library only.
"""

from collections import namedtuple

from .python.pep440 import compare_versions

INSTALL = 'install'
UPGRADE = 'upgrade'
DOWNGRADE = 'downgrade'
REINSTALL = 'reinstall'
REMOVE = 'remove'

Change = namedtuple('Change', ['name', 'action', 'before', 'after'])
"""One package to touch: before/after are versions, None where absent."""


def plan_changes(desired, installed, remove=(), sync=False, broken=()):
    """Changes that take installed ({name: version}) to desired ({name: version}) Python distributions.

    Versions order as PEP 440 says (pep440); gems are planned by gem_plan, in RubyGems' order.

    remove: names to uninstall (state=absent); sync: also remove everything installed that is
    not desired; broken: installed names whose files are damaged, reinstalled even at the desired
    version. Names must already be normalised the same way on both sides.
    """
    changes = []
    for name in sorted(desired):
        want, have = desired[name], installed.get(name)
        if have is None:
            changes.append(Change(name, INSTALL, None, want))
        elif have != want:
            order = compare_versions(want, have)
            action = UPGRADE if order > 0 else DOWNGRADE if order < 0 else REINSTALL
            changes.append(Change(name, action, have, want))
        elif name in broken:
            changes.append(Change(name, REINSTALL, have, want))
    unwanted = set(name for name in remove if name in installed)
    if sync:
        unwanted.update(name for name in installed if name not in desired)
    for name in sorted(unwanted):
        changes.append(Change(name, REMOVE, installed[name], None))
    return changes


def plan_diff(changes):
    """Ansible's diff: before and after as name → version text, for the packages the plan touches."""
    before = dict((c.name, c.before) for c in changes if c.before is not None)
    after = dict((c.name, c.after) for c in changes if c.after is not None)
    return {
        'before': ''.join('%s %s\n' % item for item in sorted(before.items())),
        'after': ''.join('%s %s\n' % item for item in sorted(after.items())),
    }


def changes_as_dicts(changes):
    return [c._asdict() for c in changes]
