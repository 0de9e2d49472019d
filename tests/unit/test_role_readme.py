# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role README is generated from meta/argument_specs.yml (hacking/role_readme.py) and must not drift from it."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_generator():
    spec = importlib.util.spec_from_file_location('role_readme', os.path.join(REPO, 'hacking', 'role_readme.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def test_committed_role_readme_is_what_the_generator_writes_from_the_argument_specs():
    with open(generator.README) as handle:
        committed = handle.read()
    assert committed == generator.render(generator.load_spec()), (
        'roles/offline_install/README.md differs from meta/argument_specs.yml: run .venv/bin/python hacking/role_readme.py '
        'and commit the result')


def test_readme_names_every_entry_point_and_every_option_of_the_spec():
    spec = generator.load_spec()
    text = generator.render(spec)
    for name, entry in spec['argument_specs'].items():
        assert '## Entry point `%s`' % name in text
        for option, details in (entry.get('options') or {}).items():
            assert '| `%s` |' % option in text
            for sub in (details.get('options') or {}):
                assert '`%s%s%s`' % (option, '[].' if details.get('type') == 'list' else '.', sub) in text


def test_a_changed_default_in_the_spec_changes_the_readme():
    spec = generator.load_spec()
    before = generator.render(spec)
    spec['argument_specs']['main']['options']['offline_install_keep']['default'] = 5
    after = generator.render(spec)
    assert before != after
    assert '| `offline_install_keep` | int | `5` |' in after


def test_an_option_row_shows_type_default_choices_required_and_version_added():
    row = generator.option_rows({'x_mode': {'type': 'str', 'choices': ['a', 'b'], 'default': 'a', 'required': True,
                                            'version_added': '0.2.0', 'description': ['Use V(a) or C(b|c).']}})
    assert row == ['| `x_mode` | str | `a` | `a`, `b` | yes | 0.2.0 | Use `a` or `b\\|c`. |']


def test_markup_of_ansible_documentation_becomes_markdown():
    assert generator.markdown('O(airgap.packages.pip_offline#module:installer)') == '`installer` of `airgap.packages.pip_offline`'
    assert generator.markdown(['M(airgap.packages.host_state) and', 'RV(pointers) B(once)']) == \
        '`airgap.packages.host_state` and `pointers` **once**'
