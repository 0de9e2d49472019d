# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files that run as scripts in another interpreter, fed to ``python -I -c`` as source text.

Each file here stands alone: standard library only, no imports from this collection, Python 3.8+.
"""


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
