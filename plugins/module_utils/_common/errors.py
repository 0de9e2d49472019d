# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception hierarchy of the collection (modules turn these into fail_json), and checks of plain values."""


class AirgapError(Exception):
    """Base error: the message names the culprit and the remedy; details go into the result."""

    def __init__(self, msg, **details):
        super(AirgapError, self).__init__(msg)
        self.msg = msg
        self.details = details


class ManifestError(AirgapError):
    """A manifest is missing, unreadable, of an unknown schema or inconsistent."""


class VerificationError(AirgapError):
    """An artifact is missing, truncated, altered or does not fit this host."""


class ResolutionError(AirgapError):
    """Requirements cannot be resolved or fetched."""


class InstallError(AirgapError):
    """An installer (pip, gem) failed or left an inconsistent environment."""


class LockError(AirgapError):
    """Another run holds the lock of a target environment for too long."""


def check_seconds(option, value, what):
    """A number of seconds to wait, 1 or more, or an error that names the option."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AirgapError('%s is %r: give the seconds to wait for %s, 1 or more' % (option, value, what), **{option: value})
    return value


class ArtifactRefusal(Exception):
    """Why the contents of an artifact (a wheel, a gem) are refused: the problem, and the member that has it (None
    for the file as a whole). Raised inside the checks; as_error gives the VerificationError a module reports."""

    def __init__(self, problem, member=None):
        super(ArtifactRefusal, self).__init__(problem)
        self.problem = problem
        self.member = member

    def as_error(self, path, kind, remedy):
        where = '%s: member %s %s' % (path, self.member, self.problem) if self.member else '%s %s' % (path, self.problem)
        return VerificationError('%s; nothing was installed. The %s is malformed or was tampered with: %s' % (where, kind, remedy),
                                 problems=[{'file': path, 'member': self.member, 'problem': self.problem}])
