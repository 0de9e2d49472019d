# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of wheel_cache: a current cache is reported in-process, anything else runs the module.

On top of the conditions of CurrentCacheAction, the module runs when use_pip_config or refresh is
true, and when platforms is empty (the default platform is the Python that runs the module,
which need not be the controller's).
"""

# Imported with the plugin, so once in the controller's main process rather than in each task's worker:
# it brings packaging, which halves the time of an in-process answer.
from ansible_collections.airgap.packages.plugins.module_utils._controller.python import resolver  # noqa: F401 pylint: disable=unused-import
from ansible_collections.airgap.packages.plugins.module_utils._controller.python.wheel_cache import ARGUMENT_SPEC, Options, current_report, module_result
from ansible_collections.airgap.packages.plugins.plugin_utils.current_cache import CurrentCacheAction


class ActionModule(CurrentCacheAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    MODULE_ONLY_OPTIONS = ('use_pip_config', 'refresh', 'signing_key', 'trusted_keys')

    def current_result(self, params, check_mode, diff):
        # A current cache is reported alike in check mode: there is nothing to plan.
        if not params['platforms']:
            return None
        report = current_report(Options(**params), check_mode)
        return None if report is None else module_result(report, diff)
