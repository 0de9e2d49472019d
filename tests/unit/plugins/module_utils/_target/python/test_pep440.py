# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import functools
import itertools
import random

import pytest
from packaging.version import InvalidVersion, Version

from ansible_collections.airgap.packages.plugins.module_utils._target.python.pep440 import compare_versions

# Normal forms: every combination of epoch, release, pre, post, dev and local parts. 1 and 1.0.0 differ only
# by trailing zeros; the numbers 1, 2 and 10 tell numeric from text ordering apart.
EPOCHS = ['', '1!']
RELEASES = ['1', '1.0.0', '1.1', '1.10', '2']
PRES = ['', 'a1', 'b1', 'rc1', 'rc10']
POSTS = ['', '.post1', '.post2']
DEVS = ['', '.dev1']
LOCALS = ['', '+1']
NORMAL_FORMS = [''.join(parts) for parts in itertools.product(EPOCHS, RELEASES, PRES, POSTS, DEVS, LOCALS)]

# Local parts on one public version: numeric against alphanumeric, numeric order, shorter against longer.
LOCAL_FORMS = ['1.0+%s' % local for local in (
    '0', '1', '2', '9', '10', '01', 'a', 'b', 'abc', 'ABC', 'a1', '1a', 'ubuntu', 'ubuntu.1', 'ubuntu.2', 'ubuntu.10',
    'ubuntu.1.1', 'ubuntu.a', '1.ubuntu', '1.1', '1.1.1', '1.a', 'a.1', 'a-1', 'a_1', 'ubuntu-1.2_3')]

# Spellings PEP 440 normalises (a leading v, case, whitespace, separators, alternative and implicit letters and
# numbers), dev releases of pre- and post-releases, and the lowest and longest versions.
SPELLINGS = [
    'v1.0', 'V1.0', ' 1.0', '1.0 ', '\t1.0\n', '  v1.0a1  ', '\u20031.0\u00a0', '01.00', '1.00.0', '0!1.0', '01!1.0',
    '000', '1.0a', '1.0.a', '1.0-a', '1.0_a', '1.0a0', '1.0a.1', '1.0a-1', '1.0a_1', '1.0-a-1', '1.0.a.1', '1.0A1',
    '1.0alpha1', '1.0ALPHA1', '1.0.alpha.1', '1.0beta1', '1.0-beta-2', '1.0b', '1.0c1', '1.0C1', '1.0pre1',
    '1.0preview1', '1.0-preview-1', '1.0_rc_1', '1.0rc', '1.0RC1', '1.0-1', '1.0-0', '1.0-10', '1.0post1',
    '1.0-post1', '1.0_post1', '1.0.post', '1.0post', '1.0.post0', '1.0.POST1', '1.0rev1', '1.0.rev.1', '1.0-r1',
    '1.0r', '1.0r2', '1.0dev1', '1.0-dev1', '1.0_dev_1', '1.0.dev', '1.0dev', '1.0.dev0', '1.0.DEV1', '1.0.dev10',
    '1.0a1.dev1', '1.0a1dev1', '1.0a1-dev-1', '1.0b1.dev2', '1.0rc1.dev1', '1.0.post1.dev1', '1.0-1.dev1',
    '1.0-1-dev1', '1.0post1dev1', '1.0a1.post1', '1.0a1-1', '1.0a1.post1.dev1', '1.0rc1-1.dev0', '1.0+LOCAL',
    '1.0+local', '1.0+Local.1', '1.0.post1+local', '1.0a1.dev1+local.7', '1!1.0+1', '1.0.dev1+1',
    'v1!2.0a1.post3.dev4+x.5', '0', '0.0', '0.dev0', '0a0', '0.post0', '0!0', '2!0.1', '1.2.3.4.5.6', '2024.10.1',
    '10', '9.99.999',
]

VALID = NORMAL_FORMS + LOCAL_FORMS + SPELLINGS

# Near misses that PEP 440 rejects: versions found in the wild (Debian/Ubuntu packages, Java-style snapshots)
# and broken spellings.
INVALID = [
    '', ' ', 'v', 'a1', '.1', '1.', '1..0', '1.0.', '1.0_1', '1.0+', '1.0+local+2', '1.0+local..1', '1.0+-local',
    '1.0+local-', '1!', '!1.0', '1!!1.0', '-1.0', '1.0aa1', '1.0alpha-beta', '1.0.postpost', '1.0-dev-post1',
    '1.0.dev1.post1', '1.0.dev1a1', '1.0.post1a1', '1.0d1', '1.0-SNAPSHOT', '0.23ubuntu1', '2.0.0-1ubuntu1',
    '1.0~rc1', '1.0 .post1', '1.0 1', 'vv1.0', 'ver1.0', '1,0', '1.0a1b1', '1.0rc1rc2', 'latest', 'dev', '1.0+ü',
    # Letters are ASCII only, though case-insensitive Unicode matching takes the Kelvin sign for k and a long s for s.
    '1.0+\u212a', '1.0.po\u017ft1',
]


def ordered(versions):
    return sorted(versions, key=functools.cmp_to_key(compare_versions))


@pytest.mark.parametrize('lower, higher', [
    # The four the shared ordering got wrong: post-releases, epochs, local versions and dev releases.
    pytest.param('1.0', '1.0.post1', id='post-release after its release'),
    pytest.param('2.0', '1!1.0', id='epoch before release'),
    pytest.param('1.0', '1.0+local', id='local after its public version'),
    pytest.param('1.0.dev1', '1.0a1', id='dev release before pre-release'),
    ('1.0a1.dev1', '1.0a1'),
    ('1.0.post1.dev1', '1.0.post1'),
    ('1.0', '1.0.post1.dev1'),
    ('1.0rc1', '1.0'),
    ('1.0+ubuntu', '1.0+1'),
    ('1.0+ubuntu', '1.0+ubuntu.1'),
    ('1.0+9', '1.0+10'),
    ('1.9', '1.10'),
    ('0.23ubuntu1', '0.dev0'),
])
def test_pep440_order(lower, higher):
    assert compare_versions(lower, higher) == -1
    assert compare_versions(higher, lower) == 1


@pytest.mark.parametrize('left, right', [
    ('1.0', '1.0.0'),
    ('1', '1.0.0.0'),
    ('0!1.0', '1.0'),
    ('v1.0', '1.0'),
    (' 1.0RC1 ', '1.0rc1'),
    ('1.0-1', '1.0.post1'),
    ('1.0.rev', '1.0.post0'),
    ('1.0c1', '1.0rc1'),
    ('1.0+01', '1.0+1'),
    ('1.0+A-B_c', '1.0+a.b.c'),
])
def test_spellings_of_one_version_are_equal(left, right):
    assert compare_versions(left, right) == 0


def test_the_generated_versions_are_all_valid_pep440_and_distinct_spellings():
    assert len(VALID) == len(set(VALID)) > 300
    for version in VALID:
        Version(version)


def test_sorting_equals_packaging_sorting():
    versions = list(VALID)
    random.Random(440).shuffle(versions)
    assert ordered(versions) == sorted(versions, key=Version)


def test_every_pair_compares_as_packaging_compares_it():
    parsed = [(version, Version(version)) for version in VALID]
    wrong = []
    for (left, left_parsed), (right, right_parsed) in itertools.product(parsed, repeat=2):
        expected = (left_parsed > right_parsed) - (left_parsed < right_parsed)
        if compare_versions(left, right) != expected:
            wrong.append((left, right, expected))
    assert wrong == []


def test_packaging_rejects_every_invalid_version():
    for version in INVALID:
        with pytest.raises(InvalidVersion):
            Version(version)


def test_an_invalid_version_sorts_before_every_valid_one():
    lowest_valid = ordered(VALID)[0]
    assert compare_versions(lowest_valid, '0!0.dev0') == 0
    for version in INVALID:
        assert compare_versions(version, lowest_valid) == -1, version
        assert compare_versions(lowest_valid, version) == 1, version


def test_an_invalid_version_equals_only_its_own_text_without_case_and_surrounding_whitespace():
    assert compare_versions('0.23ubuntu1', ' 0.23UBUNTU1\n') == 0
    assert compare_versions('1.0-SNAPSHOT', '1.0-snapshot') == 0
    assert compare_versions('1.0-SNAPSHOT', '1.0') == -1
    assert compare_versions('0.23ubuntu1', '0.23ubuntu2') == -1
    assert compare_versions('0.24ubuntu1', '0.23ubuntu2') == 1
