# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of gem_cache: a current cache is reported in-process, anything else runs the module.

On top of the conditions of CurrentCacheAction, the module runs when use_gemrc_sources or refresh
is true, and when ruby is not on PATH (the module fails for want of it even when nothing is to do).
"""

from ansible.module_utils.common.process import get_bin_path

from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_cache import ARGUMENT_SPEC, current_gem_caches, request_from_params
from ansible_collections.airgap.packages.plugins.plugin_utils.current_cache import CurrentCacheAction


class ActionModule(CurrentCacheAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    MODULE_ONLY_OPTIONS = ('use_gemrc_sources', 'refresh', 'signing_key', 'trusted_keys')

    def current_result(self, params, check_mode, diff):
        get_bin_path('ruby')  # raises, as the module fails, when there is none
        result = current_gem_caches(request_from_params(params), check_mode=check_mode, want_diff=diff)
        if result is None:
            return None
        # As AnsibleModule.warn would: the key only when there is something to say.
        warnings = result.pop('warnings')
        if warnings:
            result['warnings'] = warnings
        return result
