# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wheel tag compatibility: the one home for "which wheel fits which interpreter".

Runs on targets and on the controller. Standard library only, Python 3.8+, and no imports
from this collection: platform_facts runs this file's source as a script in another
interpreter to describe it. The tag order follows packaging.tags.sys_tags (what pip uses):
most specific first, so the position of a wheel's best tag ranks wheels.
"""

import os
import platform
import re
import struct
import subprocess
import sys
import sysconfig

INTERPRETER_SHORT_NAMES = {'python': 'py', 'cpython': 'cp', 'pypy': 'pp', 'ironpython': 'ip', 'jython': 'jy'}

# glibc minimum per architecture for manylinux: x86 goes back to manylinux1 (2.5),
# everything else starts at manylinux2014 (2.17).
_MANYLINUX_MIN_MINOR = {'x86_64': 5, 'i686': 5}
_MANYLINUX_DEFAULT_MIN_MINOR = 17
_MANYLINUX_ALLOWED_ARCHS = ('x86_64', 'aarch64', 'ppc64', 'ppc64le', 's390x', 'loongarch64', 'riscv64', 'armv7l', 'i686')
_LEGACY_MANYLINUX = {(2, 17): 'manylinux2014', (2, 12): 'manylinux2010', (2, 5): 'manylinux1'}
_LEGACY_MANYLINUX_ARCHS = {
    'manylinux2014': ('x86_64', 'i686', 'aarch64', 'armv7l', 'ppc64', 'ppc64le', 's390x'),
    'manylinux2010': ('x86_64', 'i686'),
    'manylinux1': ('x86_64', 'i686'),
}
_LAST_GLIBC_MINOR = 50  # assumed last minor of a glibc major, as packaging does

_WHEEL_RE = re.compile(r'^(?P<name>[^-]+)-(?P<version>[^-]+)(-(?P<build>\d[^-]*))?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$',
                       re.IGNORECASE)


def _normalize(value):
    return value.replace('.', '_').replace('-', '_').replace(' ', '_').lower()


def _nodot(version):
    return ''.join(str(part) for part in version)


# ---------------------------------------------------------------- wheel file names

def parse_wheel_filename(filename):
    """(distribution, version, build, set of tags) of a wheel file name; ValueError when it is not one."""
    match = _WHEEL_RE.match(os.path.basename(filename))
    if not match:
        raise ValueError('%s is not a wheel file name (name-version[-build]-python-abi-platform.whl)' % filename)
    tags = set()
    for interpreter in match.group('py').split('.'):
        for abi in match.group('abi').split('.'):
            for plat in match.group('plat').split('.'):
                tags.add('%s-%s-%s' % (interpreter.lower(), abi.lower(), plat.lower()))
    return match.group('name'), match.group('version'), match.group('build') or '', tags


def wheel_file_tags(filename):
    """The set of tag strings a wheel file name expands to (py2.py3-none-any -> two tags)."""
    return parse_wheel_filename(filename)[3]


def incompatible_wheels(filenames, supported):
    """[(filename, sorted tags)] for each wheel whose tags meet none of the supported tags."""
    supported = set(supported)
    result = []
    for filename in filenames:
        try:
            tags = wheel_file_tags(filename)
        except ValueError:
            result.append((filename, []))
            continue
        if not tags & supported:
            result.append((filename, sorted(tags)))
    return result


def best_tag_rank(filename, supported):
    """Index of the wheel's most specific tag in the ordered supported list (lower fits better), None if none fits."""
    ranks = dict((tag, index) for index, tag in enumerate(supported))
    found = [ranks[tag] for tag in wheel_file_tags(filename) if tag in ranks]
    return min(found) if found else None


def is_pure_wheel(filename):
    """True when every tag of the wheel is <py>-none-any: it fits any platform of a matching Python."""
    return all(tag.endswith('-none-any') for tag in wheel_file_tags(filename))


# ---------------------------------------------------------------- tags for any described interpreter

def linux_platform_tags(arch, libc_flavor=None, libc_version=None, armhf=True):
    """Platform tags of a Linux host, most specific first: manylinux_2_N (+ legacy aliases), musllinux, linux_<arch>."""
    archs = ['armv8l', 'armv7l'] if arch == 'armv8l' else [arch]
    tags = []
    version = _version_tuple(libc_version)
    if libc_flavor == 'glibc' and version and (arch not in ('armv7l', 'armv8l') or armhf):
        for one in archs:
            if one not in _MANYLINUX_ALLOWED_ARCHS:
                continue
            tags.extend(_manylinux_tags(one, version))
    if libc_flavor == 'musl' and version:
        for one in archs:
            for minor in range(version[1], -1, -1):
                tags.append('musllinux_%d_%d_%s' % (version[0], minor, one))
    tags.extend('linux_%s' % one for one in archs)
    return tags


def _manylinux_tags(arch, version):
    major, minor = version[0], version[1]
    min_minor = _MANYLINUX_MIN_MINOR.get(arch, _MANYLINUX_DEFAULT_MIN_MINOR)
    maxima = [(major, minor)] + [(older, _LAST_GLIBC_MINOR) for older in range(major - 1, 1, -1)]
    tags = []
    for glibc_major, glibc_max_minor in maxima:
        lowest = min_minor if glibc_major == 2 else 0
        for glibc_minor in range(glibc_max_minor, lowest - 1, -1):
            tags.append('manylinux_%d_%d_%s' % (glibc_major, glibc_minor, arch))
            legacy = _LEGACY_MANYLINUX.get((glibc_major, glibc_minor))
            if legacy and arch in _LEGACY_MANYLINUX_ARCHS[legacy]:
                tags.append('%s_%s' % (legacy, arch))
    return tags


def _py_interpreter_range(version):
    yield 'py%s' % _nodot(version[:2])
    yield 'py%d' % version[0]
    for minor in range(version[1] - 1, -1, -1):
        yield 'py%d%d' % (version[0], minor)


def cpython_tags(version, abis, platforms):
    """Tags of CPython `version` (major, minor) with its own ABIs (e.g. ['cp311']) on the given platforms."""
    interpreter = 'cp%s' % _nodot(version[:2])
    abis = [abi for abi in abis if abi not in ('abi3', 'abi3t', 'none')]
    threaded = bool(abis) and bool(re.match(r'cp\d+.*t', abis[0]))
    tags = []
    for abi in abis:
        tags.extend('%s-%s-%s' % (interpreter, abi, plat) for plat in platforms)
    stable = 'abi3t' if threaded else 'abi3'
    use_stable = tuple(version[:2]) >= (3, 2)
    if use_stable:
        tags.extend('%s-%s-%s' % (interpreter, stable, plat) for plat in platforms)
    tags.extend('%s-none-%s' % (interpreter, plat) for plat in platforms)
    if use_stable:
        for minor in range(version[1] - 1, 1, -1):
            tags.extend('cp%d%d-%s-%s' % (version[0], minor, stable, plat) for plat in platforms)
    return tags


def generic_tags(interpreter, abis, platforms):
    """Tags of a non-CPython interpreter (e.g. pp310 with abi pypy310_pp73)."""
    abis = list(abis)
    if 'none' not in abis:
        abis.append('none')
    return ['%s-%s-%s' % (interpreter, abi, plat) for abi in abis for plat in platforms]


def compatible_tags(version, interpreter, platforms):
    """The py*-none-<platform>, <interpreter>-none-any and py*-none-any tags."""
    tags = []
    for py in _py_interpreter_range(version):
        tags.extend('%s-none-%s' % (py, plat) for plat in platforms)
    if interpreter:
        tags.append('%s-none-any' % interpreter)
    tags.extend('%s-none-any' % py for py in _py_interpreter_range(version))
    return tags


def tags_for(implementation, version, abis, platforms, interpreter_version=None):
    """Ordered supported tags of any interpreter: implementation ('cpython', 'pypy', ...), version (major, minor)."""
    short = INTERPRETER_SHORT_NAMES.get(implementation, implementation)
    version = tuple(int(part) for part in version[:2])
    if short == 'cp':
        tags = cpython_tags(version, abis, platforms)
        interpreter = 'cp%s' % _nodot(version)
    else:
        interpreter = '%s%s' % (short, interpreter_version or _nodot(version))
        tags = generic_tags(interpreter, abis, platforms)
        if short == 'pp':
            interpreter = 'pp3'
    tags.extend(compatible_tags(version, interpreter, platforms))
    return _unique(tags)


def _unique(items):
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result


def _version_tuple(text):
    if not text:
        return None
    numbers = re.findall(r'\d+', str(text))
    if len(numbers) < 2:
        return None
    return int(numbers[0]), int(numbers[1])


# ---------------------------------------------------------------- the running interpreter

def _config_var(name):
    try:
        return sysconfig.get_config_var(name)
    except (IOError, OSError):
        return None


def interpreter_abis():
    """ABI tags of the running interpreter, most specific first (e.g. ['cp311'], ['cp313t'], ['pypy310_pp73'])."""
    if sys.implementation.name == 'cpython':
        return _cpython_abis(sys.version_info[:2])
    ext_suffix = _config_var('EXT_SUFFIX') or ''
    parts = ext_suffix.split('.')
    if len(parts) < 3:
        return []
    soabi = parts[1]
    if soabi.startswith('pypy'):
        return [_normalize('-'.join(soabi.split('-')[:2]))]
    if soabi.startswith('graalpy'):
        return [_normalize('-'.join(soabi.split('-')[:3]))]
    return [_normalize(soabi)] if soabi else []


def _cpython_abis(version):
    nodot = _nodot(version)
    debug = threading = pymalloc = ''
    with_debug = _config_var('Py_DEBUG')
    has_ext = '_d.pyd' in _extension_suffixes()
    if with_debug or (with_debug is None and (hasattr(sys, 'gettotalrefcount') or has_ext)):
        debug = 'd'
    if tuple(version) >= (3, 13) and _config_var('Py_GIL_DISABLED'):
        threading = 't'
    abis = []
    if tuple(version) < (3, 8):
        with_pymalloc = _config_var('WITH_PYMALLOC')
        if with_pymalloc or with_pymalloc is None:
            pymalloc = 'm'
    elif debug:
        # Debug builds also load normal extension modules.
        abis.append('cp%s%s' % (nodot, threading))
    abis.insert(0, 'cp%s%s%s%s' % (nodot, threading, debug, pymalloc))
    return abis


def _extension_suffixes():
    try:
        import importlib.machinery
        return importlib.machinery.EXTENSION_SUFFIXES
    except ImportError:  # pragma: no cover
        return []


def interpreter_version_nodot():
    value = _config_var('py_version_nodot')
    return str(value) if value else _nodot(sys.version_info[:2])


def _is_32bit():
    return struct.calcsize('P') == 4


def _elf_header(path):
    """(ei_class, ei_data, e_machine, e_flags, interpreter path or None) of an ELF file, None if unreadable."""
    try:
        with open(path, 'rb') as handle:
            ident = handle.read(16)
            if len(ident) < 16 or ident[:4] != b'\x7fELF':
                return None
            ei_class, ei_data = ident[4], ident[5]
            if not isinstance(ei_class, int):  # pragma: no cover - Python 2 bytes
                ei_class, ei_data = ord(ei_class), ord(ei_data)
            endian = '<' if ei_data == 1 else '>'
            if ei_class == 1:
                fmt, phfmt = endian + 'HHIIIIIHHHHHH', endian + 'IIIIIIII'
            elif ei_class == 2:
                fmt, phfmt = endian + 'HHIQQQIHHHHHH', endian + 'IIQQQQQQ'
            else:
                return None
            header = struct.unpack(fmt, handle.read(struct.calcsize(fmt)))
            e_machine, e_phoff, e_flags, e_phentsize, e_phnum = header[1], header[4], header[6], header[8], header[9]
            interpreter = None
            for index in range(e_phnum):
                handle.seek(e_phoff + e_phentsize * index)
                entry = struct.unpack(phfmt, handle.read(struct.calcsize(phfmt)))
                if ei_class == 1:
                    p_type, p_offset, p_filesz = entry[0], entry[1], entry[4]
                else:
                    p_type, p_offset, p_filesz = entry[0], entry[2], entry[5]
                if p_type == 3:  # PT_INTERP
                    handle.seek(p_offset)
                    interpreter = handle.read(p_filesz).rstrip(b'\x00').decode('ascii', 'replace')
                    break
            return ei_class, ei_data, e_machine, e_flags, interpreter
    except (IOError, OSError, struct.error):
        return None


def _is_armhf(executable):
    header = _elf_header(executable)
    if header is None:
        return False
    ei_class, ei_data, e_machine, e_flags, _interp = header
    # 32-bit little-endian ARM, EABI version 5, hard-float
    return ei_class == 1 and ei_data == 1 and e_machine == 40 and e_flags & 0xFF000000 == 0x05000000 and e_flags & 0x400 == 0x400


def libc_info(executable=None):
    """{'flavor': 'glibc'|'musl'|None, 'version': 'X.Y' or None} of the running process."""
    try:
        value = os.confstr('CS_GNU_LIBC_VERSION')
    except (AttributeError, OSError, ValueError):
        value = None
    if value and value.startswith('glibc '):
        return {'flavor': 'glibc', 'version': value.split(' ', 1)[1]}
    header = _elf_header(executable or sys.executable)
    loader = header[4] if header else None
    if loader and 'musl' in os.path.basename(loader):
        return {'flavor': 'musl', 'version': _musl_version(loader)}
    if sys.platform.startswith('linux'):
        libc, version = platform.libc_ver()
        if libc == 'glibc' and version:
            return {'flavor': 'glibc', 'version': version}
    return {'flavor': None, 'version': None}


def _musl_version(loader):
    # The musl loader prints its usage and "Version X.Y.Z" on stderr when run without arguments.
    try:
        proc = subprocess.Popen([loader], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _out, err = proc.communicate()
    except (IOError, OSError):
        return None
    match = re.search(r'Version (\d+)\.(\d+)', err.decode('ascii', 'replace'))
    return '%s.%s' % (match.group(1), match.group(2)) if match else None


def platform_arch():
    """The wheel architecture of the running interpreter (x86_64, aarch64, i686 for 32-bit on 64-bit kernels...)."""
    plat = _normalize(sysconfig.get_platform())
    if plat.startswith('linux_'):
        arch = plat.split('_', 1)[1]
        if _is_32bit():
            arch = {'x86_64': 'i686', 'aarch64': 'armv8l'}.get(arch, arch)
        return arch
    return platform.machine() or plat


def running_platform_tags():
    """Platform tags of the running interpreter, most specific first."""
    plat = _normalize(sysconfig.get_platform())
    if not plat.startswith('linux_'):
        # Only Linux targets are in scope; elsewhere the sysconfig platform is the one tag.
        return [plat]
    arch = platform_arch()
    libc = libc_info()
    armhf = True
    if arch in ('armv7l', 'armv8l'):
        armhf = _is_armhf(sys.executable)
    if arch == 'i686':
        header = _elf_header(sys.executable)
        if header and not (header[0] == 1 and header[2] == 3):
            libc = dict(libc, flavor=None) if libc['flavor'] == 'glibc' else libc
    return linux_platform_tags(arch, libc['flavor'], libc['version'], armhf=armhf)


def supported_tags():
    """Ordered tag strings the running interpreter accepts, most specific first (like packaging.tags.sys_tags)."""
    return tags_for(sys.implementation.name, sys.version_info[:2], interpreter_abis(), running_platform_tags(),
                    interpreter_version=interpreter_version_nodot())


def marker_environment():
    """PEP 508 marker variables of the running interpreter."""
    impl = sys.implementation.version
    impl_version = '%d.%d.%d' % (impl.major, impl.minor, impl.micro)
    if impl.releaselevel != 'final':
        impl_version += impl.releaselevel[0] + str(impl.serial)
    return {
        'implementation_name': sys.implementation.name,
        'implementation_version': impl_version,
        'os_name': os.name,
        'platform_machine': platform.machine(),
        'platform_release': platform.release(),
        'platform_system': platform.system(),
        'platform_version': platform.version(),
        'python_full_version': platform.python_version(),
        'platform_python_implementation': platform.python_implementation(),
        'python_version': '.'.join(platform.python_version_tuple()[:2]),
        'sys_platform': sys.platform,
    }


def _pip_available():
    try:
        import importlib.util
        return importlib.util.find_spec('pip') is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


def describe_interpreter():
    """What decides which wheel fits the running interpreter, as a plain dict (no key: platform_info adds it)."""
    abis = interpreter_abis()
    return {
        'interpreter': sys.executable,
        'version': platform.python_version(),
        'implementation': sys.implementation.name,
        'abi': abis[0] if abis else 'none',
        'abis': abis,
        'interpreter_version': interpreter_version_nodot(),
        'arch': platform_arch(),
        'platform': sys.platform,
        'libc': libc_info(),
        'tags': supported_tags(),
        'pip_available': _pip_available(),
        'marker_environment': marker_environment(),
    }


if __name__ == '__main__':
    import json
    sys.stdout.write(json.dumps(describe_interpreter()))
