# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # Every module: what check_mode, diff_mode and platform mean. The support levels come from the
    # named fragments below, and each module adds its own details (and overrides a support level
    # where its own differs).
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
'''

    # Modules that compute a plan and, in check mode, report it without acting on it.
    CHECK_MODE_FULL = r'''
options: {}
attributes:
  check_mode:
    support: full
'''

    # Modules that return the plan as a diff (before and after) in diff mode.
    DIFF_MODE_FULL = r'''
options: {}
attributes:
  diff_mode:
    support: full
'''

    # Modules that change things but return no diff; their results say what changed.
    DIFF_MODE_NONE = r'''
options: {}
attributes:
  diff_mode:
    support: none
'''

    # Modules that only read, in place of CHECK_MODE_FULL and the DIFF_MODE_* fragments.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state; it returns the same in check mode.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state, so there is nothing to diff.
'''

    # Modules that return the airgap_platform fact.
    FACTS = r'''
options: {}
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
'''

    # Modules with an action plugin of the same name; each states what runs on the controller.
    ACTION = r'''
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
'''

    # Members of the store action group (meta/runtime.yml).
    STORE_GROUP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/airgap.packages.store) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - airgap.packages.store
'''
