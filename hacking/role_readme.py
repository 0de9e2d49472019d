# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write roles/offline_install/README.md from the role's meta/argument_specs.yml.

    .venv/bin/python hacking/role_readme.py           # rewrite the README
    .venv/bin/python hacking/role_readme.py --check   # exit 1 when the committed README is not what this writes

The spec is the one source of the role's options; tests/unit/test_role_readme.py fails when the README
drifts from it. Standard library and PyYAML (which comes with ansible-core) only.
"""

import argparse
import json
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLE = os.path.join(REPO, 'roles', 'offline_install')
SPEC = os.path.join(ROLE, 'meta', 'argument_specs.yml')
README = os.path.join(ROLE, 'README.md')
ROLE_NAME = 'airgap.packages.offline_install'

# Ansible's documentation markup, as Markdown. O(module#module:option) names an option of another module.
_MARKUP = (
    (re.compile(r'O\(([\w.]+)#module:([^)]+)\)'), lambda m: '`%s` of `%s`' % (m.group(2), m.group(1))),
    (re.compile(r'RV\(([^)]*)\)'), lambda m: '`%s`' % m.group(1)),
    (re.compile(r'\b[CVOM]\(([^)]*)\)'), lambda m: '`%s`' % m.group(1)),
    (re.compile(r'B\(([^)]*)\)'), lambda m: '**%s**' % m.group(1)),
    (re.compile(r'I\(([^)]*)\)'), lambda m: '*%s*' % m.group(1)),
    (re.compile(r'L\(([^,)]*),\s*([^)]*)\)'), lambda m: '[%s](%s)' % (m.group(1), m.group(2))),
    (re.compile(r'U\(([^)]*)\)'), lambda m: '<%s>' % m.group(1)),
)


def markdown(text):
    """One description paragraph (or a list of them) as Markdown on one line."""
    if isinstance(text, (list, tuple)):
        text = ' '.join(str(part) for part in text)
    text = ' '.join(str(text).split())
    for pattern, replace in _MARKUP:
        text = pattern.sub(replace, text)
    return text


def cell(text):
    """Text safe inside a Markdown table cell."""
    return text.replace('|', '\\|')


def shown_default(option):
    if 'default' not in option or option['default'] is None:
        return '—'
    value = option['default']
    if isinstance(value, bool):
        return '`%s`' % str(value).lower()
    if isinstance(value, str):
        return '`%s`' % value if value else '`""`'
    return '`%s`' % json.dumps(value)


def shown_type(option):
    kind = option.get('type', 'str')
    if kind == 'list' and option.get('elements'):
        return 'list of %s' % option['elements']
    return kind


def option_rows(options, prefix=''):
    """One table row per option in the order of the spec, sub-options after their parent as parent.child (parent[].child for lists)."""
    rows = []
    for name in options:
        option = options[name] or {}
        full = prefix + name
        choices = ', '.join('`%s`' % choice for choice in option.get('choices', [])) or '—'
        rows.append('| `%s` | %s | %s | %s | %s | %s | %s |' % (
            full, shown_type(option), shown_default(option), choices,
            'yes' if option.get('required') else 'no', option.get('version_added', '—'),
            cell(markdown(option.get('description', '')))))
        if option.get('options'):
            rows.extend(option_rows(option['options'], full + ('[].' if option.get('type') == 'list' else '.')))
    return rows


def render(spec):
    """The README for the argument spec (the parsed argument_specs.yml)."""
    entry_points = spec['argument_specs']
    lines = [
        '# Role `%s`' % ROLE_NAME,
        '',
        '<!-- Generated from meta/argument_specs.yml by hacking/role_readme.py; edit the spec, then run',
        '     .venv/bin/python hacking/role_readme.py -->',
        '',
        'Every input of the role, as `meta/argument_specs.yml` declares and validates it. A variable that is',
        'not listed here, or has the wrong type, fails the play before any task runs. How to use the role:',
        '[the user guide](../../docs/guide/README.md).',
        '',
        '## Entry points',
        '',
        '| entry point | use it as | what it does |',
        '|---|---|---|',
    ]
    for name, entry in entry_points.items():
        use = 'role: %s' % ROLE_NAME if name == 'main' else 'tasks_from: %s' % name
        lines.append('| [`%s`](#entry-point-%s) | `%s` | %s |' % (name, name, use, cell(markdown(entry.get('short_description', '')))))
    lines.append('')
    written = {}
    for name, entry in entry_points.items():
        lines += ['## Entry point `%s`' % name, '']
        lines += [markdown(entry.get('short_description', '')), '']
        for paragraph in entry.get('description', []) or []:
            lines += [markdown(paragraph), '']
        options = entry.get('options') or {}
        same = [earlier for earlier, seen in written.items() if seen == options]
        if same:
            lines += ['Options: the same as [`%s`](#entry-point-%s).' % (same[0], same[0]), '']
            continue
        written[name] = options
        lines += [
            '| option | type | default | choices | required | version added | description |',
            '|---|---|---|---|---|---|---|',
        ] + option_rows(options) + ['']
    lines += ['"—" in a column: the spec gives no value there (no default, no choices, or no `version_added`).', '']
    return '\n'.join(lines)


def load_spec(path=SPEC):
    with open(path) as handle:
        return yaml.safe_load(handle)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='exit 1 when README.md differs from what would be written')
    args = parser.parse_args(argv)
    text = render(load_spec())
    if args.check:
        with open(README) as handle:
            if handle.read() != text:
                print('%s is out of date: run .venv/bin/python hacking/role_readme.py' % os.path.relpath(README, REPO))
                return 1
        return 0
    with open(README, 'w') as handle:
        handle.write(text)
    print('wrote %s' % os.path.relpath(README, REPO))
    return 0


if __name__ == '__main__':
    sys.exit(main())
