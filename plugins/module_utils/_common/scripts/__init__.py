# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files that run as scripts in another interpreter, fed to ``python -I -c`` as source text, and how the Ruby
programs of the collection (the .rb files beside the Python that runs them) are read.

Each Python file here stands alone: standard library only, no imports from this collection, Python 3.8+.
"""

import os
import pkgutil


def script_source(module):
    """The source text of a script module here, also when it is imported from a zip (as Ansible runs modules)."""
    loader = getattr(module, '__loader__', None)
    source = None
    if loader is not None and hasattr(loader, 'get_source'):
        source = loader.get_source(module.__name__)
    if source is None:
        with open(module.__file__, 'rb') as handle:
            source = handle.read()
    if isinstance(source, bytes):
        source = source.decode('utf-8')
    return source


def packaged_text(copies, name):
    """The text of a file that is not Python (a Ruby program) beside the generated module copies (a package's
    ruby_programs), which holds the same text in its PROGRAMS.

    Read as package data, else from that directory. Ansible runs a module from a payload that holds only .py
    files, so there PROGRAMS (kept equal to the files by a unit test, regenerated with hacking/ruby_programs.py)
    answers.
    """
    package, directory = copies.__name__.rpartition('.')[0], os.path.dirname(os.path.abspath(copies.__file__))
    data = None
    try:
        data = pkgutil.get_data(package, name)
    except (IOError, OSError, ImportError, ValueError):
        pass
    if data is None:
        try:
            with open(os.path.join(directory, name), 'rb') as handle:
                data = handle.read()
        except (IOError, OSError):
            pass
    if data is None:
        return copies.PROGRAMS[name]
    return data.decode('utf-8')
