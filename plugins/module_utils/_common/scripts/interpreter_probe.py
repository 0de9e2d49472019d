# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Python interpreter holds, told by that interpreter itself, without pip.

Runs on targets, inside the interpreter being described: pip_offline sends this file's source
to `python -I -c` with a JSON request on stdin and reads one JSON object from stdout. It must
therefore stay self-contained (standard library only, no collection imports) and work on
Python 3.8+. The tag rules are not copied here: the request carries the source of wheeltags.
RECORD parsing lives here (wheel_check and python_env use it too), since this file must stand alone.
"""

import csv
import json
import os
import re
import stat
import sys


def normalise_name(name):
    """PEP 503 normalised project name: the collection's one normaliser, here because this file must stand alone."""
    return re.sub(r'[-_.]+', '-', name).lower()


def metadata_headers(lines):
    """Name and Version from the lines (bytes) of a METADATA / PKG-INFO file; stops at the first blank line."""
    name = version = None
    for raw in lines:
        line = raw.decode('utf-8', 'replace').rstrip('\r\n')
        if not line:
            break
        if name is None and line.startswith('Name:'):
            name = line[5:].strip()
        elif version is None and line.startswith('Version:'):
            version = line[8:].strip()
        if name and version:
            break
    return name, version


def _metadata_headers(path):
    try:
        with open(path, 'rb') as handle:
            return metadata_headers(handle)
    except (IOError, OSError):
        return None, None


def _from_directory_name(entry):
    """(name, version) from `name-version.dist-info` or `name-version[-pyX.Y].egg-info`."""
    stem = entry.rsplit('.', 1)[0]
    parts = stem.split('-')
    if len(parts) < 2:
        return None, None
    return parts[0], parts[1]


def distributions_in(directory):
    """[(name, version, metadata path)] of the distributions installed in one sys.path directory."""
    try:
        entries = sorted(os.listdir(directory))
    except (IOError, OSError):
        return []
    found = []
    for entry in entries:
        if entry.endswith('.dist-info'):
            metadata = os.path.join(directory, entry, 'METADATA')
        elif entry.endswith('.egg-info'):
            path = os.path.join(directory, entry)
            metadata = os.path.join(path, 'PKG-INFO') if os.path.isdir(path) else path
        else:
            continue
        name, version = _metadata_headers(metadata)
        if not name or not version:
            name, version = _from_directory_name(entry)
        if name and version:
            found.append((normalise_name(name), version, os.path.join(directory, entry)))
    return found


def parse_record(text):
    """[(path, hash, size)] of the rows of a RECORD file; ValueError when a row is not path,hash,size."""
    rows = []
    for row in csv.reader(text.splitlines()):
        if not row:
            continue
        if len(row) != 3 or not row[0]:
            raise ValueError('row %r is not path,hash,size' % ','.join(row))
        rows.append((row[0], row[1], row[2]))
    return rows


def read_record(dist_info):
    """The rows of a dist-info's RECORD; IOError/OSError when it is absent, ValueError when it is not valid."""
    with open(os.path.join(dist_info, 'RECORD'), 'rb') as handle:
        data = handle.read()
    try:
        return parse_record(data.decode('utf-8'))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(str(exc))


def is_bytecode(path):
    """A compiled file an installer may list in RECORD: regenerated at will, so its absence is no damage."""
    return path.endswith('.pyc') and '__pycache__/' in path.replace(os.sep, '/')


def record_problem(directory, dist_info):
    """Why an installed .dist-info is not whole, or None: METADATA or a valid RECORD missing, or files that
    RECORD lists missing on disk or of another size (an installer killed mid-way leaves exactly that)."""
    if not os.path.isfile(os.path.join(dist_info, 'METADATA')):
        return 'METADATA is missing'
    try:
        rows = read_record(dist_info)
    except (IOError, OSError):
        return 'RECORD is missing'
    except ValueError as exc:
        return 'RECORD is not valid (%s)' % exc
    if not rows:
        return 'RECORD is empty'
    missing, resized = [], []
    prefix = directory.rstrip(os.sep) + os.sep
    for path, _hash, size in rows:
        if path.endswith('.pyc') and is_bytecode(path):
            continue
        try:
            info = os.lstat(path if os.path.isabs(path) else prefix + path)
        except OSError:
            missing.append(path)
            continue
        if size.isdigit() and stat.S_ISREG(info.st_mode) and info.st_size != int(size):
            resized.append(path)
    problems = []
    for what, paths in (('missing', missing), ('of another size than RECORD says', resized)):
        if paths:
            shown = ', '.join(sorted(paths)[:3]) + (' and %d more' % (len(paths) - 3) if len(paths) > 3 else '')
            problems.append('files that RECORD lists are %s: %s' % (what, shown))
    return '; '.join(problems) or None


def installed_distributions(path_entries, environment_dirs, check=None):
    """Distributions visible on sys.path, first one of each name wins (as importlib.metadata does).

    Each is a dict with name, version, path, in_environment (it lives in a directory the
    installer writes to, so it may be replaced or removed) and problem: for the dist-info
    directories in the environment whose names check lists ('*': all), why it is broken, else None.
    """
    environment = set(os.path.realpath(d) for d in environment_dirs)
    wanted = None if check in (None, '*') else set(check)
    seen = {}
    ordered = []
    for entry in path_entries:
        if not entry or not os.path.isdir(entry):
            continue
        real = os.path.realpath(entry)
        for name, version, path in distributions_in(entry):
            if name in seen:
                continue
            seen[name] = True
            inside = real in environment
            problem = None
            if inside and check is not None and (wanted is None or name in wanted) and path.endswith('.dist-info'):
                problem = record_problem(entry, path)
            ordered.append({'name': name, 'version': version, 'path': path, 'in_environment': inside, 'problem': problem})
    return ordered


def _load_wheeltags(source):
    namespace = {'__name__': 'airgap_wheeltags', '__file__': 'wheeltags.py'}
    exec(compile(source, 'wheeltags.py', 'exec'), namespace)
    return namespace


def tag_report(source, filenames):
    """Which of filenames this interpreter cannot install, and each compatible file's best tag rank.

    source is the text of wheeltags (in another interpreter) or its namespace (in this one).
    """
    wheeltags = source if isinstance(source, dict) else _load_wheeltags(source)
    supported = list(wheeltags['supported_tags']())
    rank_of = {}
    for index, tag in enumerate(supported):
        rank_of.setdefault(tag, index)
    wheels = [f for f in filenames if f.endswith('.whl')]
    incompatible = wheeltags['incompatible_wheels'](wheels, supported)
    if isinstance(incompatible, dict):
        incompatible = list(incompatible)
    bad = set(item if isinstance(item, str) else item[0] for item in incompatible)
    report = {}
    for filename in wheels:
        try:
            tags = list(wheeltags['wheel_file_tags'](filename))
        except ValueError:
            tags, bad = [], bad | set([filename])
        ranks = [rank_of[tag] for tag in tags if tag in rank_of]
        report[filename] = {
            'tags': sorted(tags),
            'compatible': filename not in bad,
            'rank': min(ranks) if ranks and filename not in bad else None,
        }
    return {'files': report, 'supported_count': len(supported), 'supported_sample': supported[:5],
            'arch': wheeltags['platform_arch'](), 'implementation': sys.implementation.name,
            'python': '%d.%d' % sys.version_info[:2]}


def _module_available(name):
    try:
        import importlib.util
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def describe(request):
    """Everything pip_offline needs to know about the running interpreter, as one dict."""
    import sysconfig
    paths = sysconfig.get_paths()
    environment_dirs = [paths['purelib'], paths['platlib']]
    stdlib = paths.get('stdlib', '')
    in_venv = sys.prefix != getattr(sys, 'base_prefix', sys.prefix)
    result = {
        'executable': sys.executable,
        'version': '%d.%d.%d' % sys.version_info[:3],
        'implementation': sys.implementation.name,
        'prefix': sys.prefix,
        'base_prefix': getattr(sys, 'base_prefix', sys.prefix),
        'in_venv': in_venv,
        'purelib': paths['purelib'],
        'platlib': paths['platlib'],
        'scripts': paths.get('scripts'),
        'data': paths.get('data'),
        'externally_managed': bool(stdlib) and not in_venv and os.path.exists(os.path.join(stdlib, 'EXTERNALLY-MANAGED')),
        'distributions': installed_distributions(sys.path, environment_dirs, request.get('check')),
    }
    if request.get('capabilities'):
        result['has_venv'] = _module_available('venv')
        result['has_ensurepip'] = _module_available('ensurepip')
    if request.get('wheeltags_source'):
        result['tags'] = tag_report(request['wheeltags_source'], request.get('filenames', []))
    return result


def main():
    request = json.loads(sys.stdin.read() or '{}')
    try:
        answer = describe(request)
    except Exception as exc:  # the caller reports it with the interpreter's name
        answer = {'error': '%s: %s' % (type(exc).__name__, exc)}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
