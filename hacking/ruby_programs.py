# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regenerate the ruby_programs.py beside every set of .rb files under plugins/module_utils.

Ansible runs a module from a payload that carries the .py files it imports and nothing else, so each
package that runs Ruby programs also carries them as Python strings; the .rb files stay the source.
tests/unit/plugins/module_utils/test_ruby_programs.py fails while a copy differs. Run:

    .venv/bin/python hacking/ruby_programs.py
"""

import ast
import glob
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE_UTILS = os.path.join(REPO, 'plugins', 'module_utils')
COPY_NAME = 'ruby_programs.py'

HEADER = '''# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A copy of the Ruby programs beside this file (the .rb files), for module runs only.

Ansible runs a module from a payload that carries the .py files it imports and nothing else; there
_common/scripts.packaged_text reads the programs from here, everywhere else from the .rb files
themselves. Do not edit: edit the .rb file, then run `.venv/bin/python hacking/ruby_programs.py`;
a unit test fails while this file differs.
"""

'''


def directories():
    """The directories under plugins/module_utils that hold .rb files."""
    return sorted(set(os.path.dirname(path) for path in glob.glob(os.path.join(MODULE_UTILS, '**', '*.rb'), recursive=True)))


def render(directory):
    """The text of ruby_programs.py for the .rb files in directory."""
    entries = []
    for name in sorted(f for f in os.listdir(directory) if f.endswith('.rb')):
        with open(os.path.join(directory, name)) as handle:
            source = handle.read()
        literal = "r'''%s'''" % source
        if "'''" in source or source.endswith('\\') or ast.literal_eval(literal) != source:
            literal = repr(source)  # a raw string cannot hold this text as it is
        entries.append('    %r: %s,\n' % (name, literal))
    return HEADER + 'PROGRAMS = {\n' + ''.join(entries) + '}\n'


def main():
    for directory in directories():
        path = os.path.join(directory, COPY_NAME)
        text = render(directory)
        with open(path, 'w') as handle:
            handle.write(text)
        sys.stdout.write('%s\n' % os.path.relpath(path, REPO))


if __name__ == '__main__':
    main()
