# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import pytest

from ansible_collections.airgap.packages.plugins.module_utils.plans import (
    Change,
    compare_versions,
    plan_changes,
    plan_diff,
)


@pytest.mark.parametrize('left, right, order', [
    ('1.0', '1.0.0', 0),
    ('1.0.1', '1.0', 1),
    ('1.0rc1', '1.0', -1),
    ('2.0.0.pre', '2.0.0', -1),
    ('13.10', '13.2.1', 1),
])
def test_versions_order_like_pep440_and_rubygems_for_upgrades(left, right, order):
    assert compare_versions(left, right) == order


def test_converged_environment_has_an_empty_plan():
    assert plan_changes({'a': '1.0', 'b': '2.0'}, {'a': '1.0', 'b': '2.0', 'pip': '24.0'}) == []


def test_plan_names_each_install_upgrade_and_downgrade():
    changes = plan_changes({'a': '1.0', 'b': '2.0', 'c': '1.0'}, {'b': '1.5', 'c': '3.0'})
    assert changes == [Change('a', 'install', None, '1.0'), Change('b', 'upgrade', '1.5', '2.0'),
                       Change('c', 'downgrade', '3.0', '1.0')]


def test_sync_removes_only_what_is_not_desired():
    changes = plan_changes({'a': '1.0'}, {'a': '1.0', 'stray': '0.1'}, sync=True)
    assert changes == [Change('stray', 'remove', '0.1', None)]


def test_removing_a_package_that_is_absent_is_no_change():
    assert plan_changes({}, {'a': '1.0'}, remove=['a', 'b']) == [Change('a', 'remove', '1.0', None)]


def test_diff_shows_before_and_after_versions_of_touched_packages_only():
    diff = plan_diff([Change('b', 'upgrade', '1.5', '2.0'), Change('a', 'install', None, '1.0')])
    assert diff == {'before': 'b 1.5\n', 'after': 'a 1.0\nb 2.0\n'}


def test_a_broken_distribution_at_the_desired_version_is_reinstalled():
    changes = plan_changes({'a': '1.0', 'b': '2.0'}, {'a': '1.0', 'b': '1.0'}, broken={'a': 'RECORD is missing', 'b': 'x'})
    assert changes == [Change('a', 'reinstall', '1.0', '1.0'), Change('b', 'upgrade', '1.0', '2.0')]
    assert plan_changes({'a': '1.0'}, {'a': '1.0'}, broken={'other': 'x'}) == []
