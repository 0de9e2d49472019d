# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tiny wheels and PEP 503 file:// indexes made on the fly for wheel_cache unit tests."""

import hashlib
import os
import re
import zipfile


def make_wheel(directory, name, version, tags='py3-none-any', requires=(), requires_python=None, extras=()):
    """Write a minimal valid wheel; returns its path."""
    dist = re.sub(r'[-_.]+', '_', name)
    filename = '%s-%s-%s.whl' % (dist, version, tags)
    lines = ['Metadata-Version: 2.1', 'Name: %s' % name, 'Version: %s' % version]
    if requires_python:
        lines.append('Requires-Python: %s' % requires_python)
    lines += ['Provides-Extra: %s' % extra for extra in extras]
    lines += ['Requires-Dist: %s' % req for req in requires]
    info = '%s-%s.dist-info' % (dist, version)
    path = os.path.join(directory, filename)
    os.makedirs(directory, exist_ok=True)
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('%s/__init__.py' % dist.lower(), '')
        archive.writestr('%s/METADATA' % info, '\n'.join(lines) + '\n')
        archive.writestr('%s/WHEEL' % info, 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: %s\n' % tags)
        archive.writestr('%s/RECORD' % info, '')
    return path


def write_simple_index(root, files_dir, requires_python=None):
    """A PEP 503 tree under root/simple for every file in files_dir; returns its file:// URL."""
    projects = {}
    for filename in sorted(os.listdir(files_dir)):
        if filename.endswith('.whl'):
            project = filename.split('-')[0]
        else:
            project = re.sub(r'-\d[^-]*\.(tar\.gz|zip)$', '', filename)
        projects.setdefault(re.sub(r'[-_.]+', '-', project).lower(), []).append(filename)
    for name, files in projects.items():
        page = os.path.join(root, 'simple', name)
        os.makedirs(page, exist_ok=True)
        anchors = []
        for filename in files:
            with open(os.path.join(files_dir, filename), 'rb') as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            attr = ''
            if requires_python and filename in requires_python:
                attr = ' data-requires-python="%s"' % requires_python[filename].replace('<', '&lt;').replace('>', '&gt;')
            anchors.append('<a href="file://%s#sha256=%s"%s>%s</a>' % (os.path.join(files_dir, filename), digest, attr, filename))
        with open(os.path.join(page, 'index.html'), 'w') as handle:
            handle.write('<html><body>%s</body></html>\n' % '\n'.join(anchors))
    return 'file://%s/simple/' % root
