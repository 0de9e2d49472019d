# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of wheel_cache and gem_cache: answer a current cache in-process, else run the module.

A task whose cache is already current costs a module run (a new Python process, the AnsiballZ
payload, the module_utils imports) for a check of a few milliseconds. When the task runs on this
controller exactly as the module would, the check runs here instead, with the module's own
argument spec and the module_utils function the module uses; anything else runs the module.
"""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display

display = Display()


def as_the_module_returns(result, no_log_values):
    """The result with no_log values masked as AnsibleModule.exit_json masks them (top-level booleans and None kept)."""
    kept = dict((key, value) for key, value in result.items() if value is None or isinstance(value, bool))
    masked = remove_values(result, no_log_values)
    masked.update(kept)
    return masked


class CurrentCacheAction(NormalAction):
    """Returns the module's no-op result from an in-process check, or runs the module as usual.

    The module runs (and its result is returned unchanged) when the connection is not local, with
    become, with async, with any environment: keyword (the module would see another environment),
    when one of MODULE_ONLY_OPTIONS is true, when the arguments do not validate, when
    current_result answers None, or when the in-process check raises anything at all. Otherwise the
    module would run as a child of this process, as the same user, in the same directory and with
    the same environment, so paths, ~ and $VARS in the arguments resolve here as they would there.
    """

    ARGUMENT_SPEC = {}
    # Options whose effect depends on the module's process (its configuration files, a fresh resolve).
    MODULE_ONLY_OPTIONS = ()

    def current_result(self, params, check_mode, diff):
        """The module's result for these validated params when the cache is current, else None."""
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = self._in_process_result()
        if result is None:
            return super(CurrentCacheAction, self).run(tmp, task_vars)
        return result

    def _in_process_result(self):
        reason = self._why_the_module_runs()
        if reason is None:
            try:
                result, reason = self._check_in_process()
            except Exception as exc:  # pylint: disable=broad-except
                # Errors are the module's to report; only the type shows here, a message could carry arguments.
                result, reason = None, 'the in-process check raised %s' % type(exc).__name__
            if result is not None:
                return result
        display.vvv('%s: running the module: %s' % (self._task.action, reason))
        return None

    def _check_in_process(self):
        """(the module's result, None) for a current cache, else (None, why the module runs)."""
        validation = ArgumentSpecValidator(self.ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            return None, 'the arguments do not validate'
        params = validation.validated_parameters
        if any(params.get(name) for name in self.MODULE_ONLY_OPTIONS):
            return None, 'one of %s is set' % ', '.join(self.MODULE_ONLY_OPTIONS)
        result = self.current_result(params, self._task.check_mode, self._task.diff)
        if result is None:
            return None, 'the cache is not current, or only the module can tell'
        # AnsibleModule keeps the no_log values it masks in this same attribute.
        return as_the_module_returns(result, validation._no_log_values), None

    def _why_the_module_runs(self):
        if self._connection.transport != 'local':
            return 'the connection is %s' % self._connection.transport
        if self._play_context.become:
            return 'become is set'
        if self._task.async_val:
            return 'async is set'
        environment = self._task.environment
        if any(environment if isinstance(environment, dict) else environment or ()):
            return 'the task or play sets environment'
        return None
