# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible_collections.airgap.packages.plugins.module_utils._target.plans import (
    Change,
    plan_changes,
    plan_diff,
)


def test_upgrades_and_downgrades_follow_pep440_order():
    installed = {'post': '1.0.post1', 'epoch': '2.0', 'local': '1.0', 'dev': '1.0a1'}
    desired = {'post': '1.0', 'epoch': '1!1.0', 'local': '1.0+local', 'dev': '1.0.dev1'}
    assert plan_changes(desired, installed) == [
        Change('dev', 'downgrade', '1.0a1', '1.0.dev1'), Change('epoch', 'upgrade', '2.0', '1!1.0'),
        Change('local', 'upgrade', '1.0', '1.0+local'), Change('post', 'downgrade', '1.0.post1', '1.0')]


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
