# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Python versions ordered exactly as PEP 440 orders them: installed against pinned, upgrade against downgrade.

Runs on targets: standard library only (no `packaging`). The grammar is PEP 440's, with every spelling it
normalises (a leading v, any case, surrounding whitespace, alpha/beta/c/pre/preview, rev/r, the implicit
post-release of 1.0-1, implicit numbers, and -, _ or . between the parts). The order is PEP 440's: epoch,
then the release with trailing zeros insignificant (1.0 == 1.0.0), then 1.0.dev1 < 1.0a1 < 1.0b1 < 1.0rc1
< 1.0 < 1.0.post1, a dev release before what it is a dev release of (1.0a1.dev1 < 1.0a1,
1.0.post1.dev1 < 1.0.post1), and a local version after its public version (1.0 < 1.0+local).
"""

import re

# The letters and numbers are ASCII only, as in packaging.version: under IGNORECASE a Unicode pattern would
# also let the Kelvin sign stand for k or a long s for s.
_VERSION = re.compile(r"""
    \s*
    v?
    (?a:
        (?:(?P<epoch>[0-9]+)!)?
        (?P<release>[0-9]+(?:\.[0-9]+)*)
        (?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
        (?P<post>-(?P<post_n1>[0-9]+)|[-_.]?(?:post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?
        (?P<dev>[-_.]?dev[-_.]?(?P<dev_n>[0-9]+)?)?
        (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    )
    \s*
""", re.VERBOSE | re.IGNORECASE)

_PRE_RANKS = {'a': 1, 'alpha': 1, 'b': 2, 'beta': 2, 'c': 3, 'rc': 3, 'pre': 3, 'preview': 3}
# A bare dev release (1.0.dev1: no pre- or post-release) sorts before every pre-release of its release, a
# version without a pre-release (1.0, 1.0.post1) after them.
_DEV_ONLY_RANK = 0
_NO_PRE_RANK = 4


def _public_and_local_key(version):
    """The sort key of a valid version, or None when version is not PEP 440."""
    match = _VERSION.fullmatch(version)
    if match is None:
        return None
    release = [int(number) for number in match.group('release').split('.')]
    while release and release[-1] == 0:
        release.pop()
    post, dev = match.group('post'), match.group('dev')
    if match.group('pre_l'):
        pre = (_PRE_RANKS[match.group('pre_l').lower()], int(match.group('pre_n') or 0))
    elif post is None and dev is not None:
        pre = (_DEV_ONLY_RANK, 0)
    else:
        pre = (_NO_PRE_RANK, 0)
    post_key = (0, 0) if post is None else (1, int(match.group('post_n1') or match.group('post_n2') or 0))
    dev_key = (1, 0) if dev is None else (0, int(match.group('dev_n') or 0))
    local = match.group('local')
    # A numeric local segment sorts after an alphanumeric one; () (no local part) sorts before any local part.
    local_key = () if local is None else tuple(
        (1, int(part), '') if part.isdigit() else (0, 0, part.lower()) for part in re.split(r'[-_.]', local))
    return (int(match.group('epoch') or 0), tuple(release), pre, post_key, dev_key, local_key)


def _sort_key(version):
    # Installed versions come verbatim from each distribution's METADATA (interpreter_probe), and distributions that
    # predate PEP 440, or were packaged by an OS, carry versions it rejects (Ubuntu 20.04's distro-info is
    # 0.23ubuntu1). Refusing them would fail a run over a package the run may be about to replace. So an
    # invalid version sorts before every valid one (as pip's LegacyVersion did), equals only the same text
    # (case and surrounding whitespace aside), and invalid versions order among themselves by that text.
    key = _public_and_local_key(version)
    return (0, version.strip().lower()) if key is None else (1, key)


def compare_versions(left, right):
    """-1, 0 or 1 as left is lower than, equal to or higher than right in PEP 440's order."""
    left_key, right_key = _sort_key(left), _sort_key(right)
    return (left_key > right_key) - (left_key < right_key)
