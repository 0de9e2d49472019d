# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build verified wheel caches, one directory per environment key: the work behind wheel_cache.

Runs on the controller or a build host (packaging and resolvelib needed only when resolving).

A run per platform:
1. current?  manifest inputs equal the new inputs and every artifact verifies on disk: done,
   without any network access (pylock/prune fixes are local too); current_report answers
   this step alone, for the action plugin that spares a current cache the module run;
2. resolve   for the target's tags and markers (resolver), preferring what is already cached;
3. fetch     new wheels / build sdists into a private workspace beside the caches, verifying
             every index sha256 and --hash pin; nothing in the cache changes until all succeed;
4. commit    link new files in, write manifest.json atomically (the commit point), then prune.
A failure or interruption before 4 leaves the previous cache and manifest as they were.
"""

import contextlib
import copy
import json
import os
import re
import sys
import tempfile

from urllib.parse import urlsplit

from . import build_inputs
from .index_client import PYPI_SIMPLE, IndexClient
from .. import cache_dir
from ..._common import platform_info, process
from ..._common.credentials import Redactor, strip_credentials
from ..._common.errors import AirgapError, ManifestError, ResolutionError, check_seconds
from ..._common.fsutil import atomic_write_bytes, check_directory_to_write
from ..._common.manifest import (
    PYLOCK_NAME, Artifact, Manifest, TopLevel, artifact_problem, load_manifest, manifest_path, sha256_file)
from ..._common.scripts import wheeltags
from ..._common.scripts.interpreter_probe import normalise_name
from ..._common.signing import SIGNING_ARGUMENT_SPEC, TRUST_ARGUMENT_SPEC
from ..._target.python.wheel_build import SOURCE_DATE_EPOCH

GENERATOR = 'airgap.packages.wheel_cache'
INSTALLERS = ('pip', 'setuptools', 'wheel')


# The wheel_cache module's options; its action plugin validates task arguments against the same spec.
ARGUMENT_SPEC = dict(
    dest=dict(type='path', required=True),
    requirements=dict(type='list', elements='str', default=[]),
    requirements_files=dict(type='list', elements='path', default=[]),
    constraints_files=dict(type='list', elements='path', default=[]),
    platforms=dict(type='list', elements='dict', default=[]),
    index_url=dict(type='str', no_log=True),
    extra_index_urls=dict(type='list', elements='str', default=[], no_log=True),
    use_pip_config=dict(type='bool', default=False),
    include_installers=dict(type='bool', default=False),
    prune=dict(type='bool', default=True),
    pylock=dict(type='bool', default=False),
    refresh=dict(type='bool', default=False),
    timeout=dict(type='int', default=60),
    builder_keys=dict(type='list', elements='str', default=[], no_log=False),
    built_wheels=dict(type='list', elements='dict', default=[]),
    build_from=dict(type='path'),
    **dict(SIGNING_ARGUMENT_SPEC, **TRUST_ARGUMENT_SPEC)
)


class Options:
    """What wheel_cache was asked to do (the module's parameters; unset ones take the spec's defaults)."""

    FIELDS = tuple(ARGUMENT_SPEC)

    def __init__(self, **kwargs):
        for field in self.FIELDS:
            setattr(self, field, kwargs[field] if field in kwargs else copy.deepcopy(ARGUMENT_SPEC[field].get('default')))
        check_directory_to_write('dest', self.dest)
        self.dest = os.path.abspath(self.dest)


# ---------------------------------------------------------------- inputs

class Inputs:
    """Requirements, constraints, hash pins and sources, read once per run."""

    def __init__(self):
        self.requirements = []  # [(text, origin)]
        self.constraints = []  # [(text, origin)]
        self.hashes = {}  # canonical name -> set of sha256
        self.index_urls = []
        self.find_links = []

    def fingerprint(self, options):
        """What the cache depends on, without credentials; compared with the manifest's record."""
        return {
            'requirements': [text for text, _origin in self.requirements],
            'constraints': [text for text, _origin in self.constraints],
            'hashes': dict((name, sorted(values)) for name, values in sorted(self.hashes.items())),
            'indexes': [strip_credentials(url) for url in self.index_urls],
            'find_links': [strip_credentials(url) for url in self.find_links],
            'use_pip_config': bool(options.use_pip_config),
        }

    def constraint_map(self, parse):
        result = {}
        for text, origin in self.constraints:
            req = parse(text, origin)
            result.setdefault(normalise_name(req.name), []).append(req)
        return result


def read_requirement_file(path, inputs, constraint=False, seen=None):
    """Add the requirements (or constraints) of a pip requirements file, following -r and -c."""
    seen = seen if seen is not None else set()
    path = os.path.abspath(path)
    if path in seen:
        return
    seen.add(path)
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        kind = 'constraints' if constraint else 'requirements'
        raise ResolutionError('cannot read %s file %s: %s' % (kind, path, exc.strerror or exc), file=path)
    text = re.sub(r'\\\n', ' ', text)
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r'(^|\s)#.*$', '', raw).strip()
        if not line:
            continue
        origin = '%s:%d' % (path, number)
        option = re.match(r'^(-r|--requirement|-c|--constraint)(\s+|=)(\S+)$', line)
        if option:
            nested = os.path.join(os.path.dirname(path), option.group(3))
            read_requirement_file(nested, inputs, constraint or option.group(1) in ('-c', '--constraint'), seen)
            continue
        if line.startswith('-'):
            raise ResolutionError('%s: option %r is not supported in requirements files given to wheel_cache; use the '
                                  'module options (index_url, extra_index_urls, use_pip_config) instead'
                                  % (origin, line.split()[0]), file=path)
        hashes = re.findall(r'--hash[=\s]+sha256:([0-9a-fA-F]{64})', line)
        line = re.split(r'\s+--', line, 1)[0].strip()
        if constraint:
            inputs.constraints.append((line, origin))
        else:
            inputs.requirements.append((line, origin))
            if hashes:
                name = normalise_name(re.split(r'[\s\[<>=!~;@(]', line, 1)[0])
                inputs.hashes.setdefault(name, set()).update(h.lower() for h in hashes)


def pip_configuration(environ=None):
    """index-url, extra-index-url, find-links and constraint from pip's config files and PIP_* variables."""
    try:
        import configparser
    except ImportError:  # pragma: no cover
        import ConfigParser as configparser
    environ = os.environ if environ is None else environ
    config_file = environ.get('PIP_CONFIG_FILE')
    files = []
    if config_file != os.devnull:
        xdg_dirs = (environ.get('XDG_CONFIG_DIRS') or '/etc/xdg').split(os.pathsep)
        files += [os.path.join(d, 'pip', 'pip.conf') for d in xdg_dirs] + ['/etc/pip.conf']
        home = os.path.expanduser('~')
        files += [os.path.join(home, '.pip', 'pip.conf'),
                  os.path.join(environ.get('XDG_CONFIG_HOME') or os.path.join(home, '.config'), 'pip', 'pip.conf')]
        files.append(os.path.join(sys.prefix, 'pip.conf'))
        if config_file:
            files.append(config_file)
    values = {}
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise ResolutionError('cannot parse pip configuration %s: %s' % (path, exc))
        for section in ('global', 'download'):
            if parser.has_section(section):
                for key, value in parser.items(section):
                    values[key.replace('_', '-')] = value
    for key in ('index-url', 'extra-index-url', 'find-links', 'constraint', 'no-index'):
        env_name = 'PIP_' + key.upper().replace('-', '_')
        if environ.get(env_name):
            values[key] = environ[env_name]
    return {
        'index_url': values.get('index-url'),
        'extra_index_urls': values.get('extra-index-url', '').split(),
        'find_links': values.get('find-links', '').split(),
        'constraints': values.get('constraint', '').split(),
        'no_index': values.get('no-index', '').lower() in ('1', 'true', 'yes', 'on'),
    }


def collect_inputs(options, parse):
    """Inputs from the options (and pip's configuration when asked); parse validates each requirement."""
    check_seconds('timeout', options.timeout, 'one answer of the index')
    inputs = Inputs()
    for text in options.requirements:
        inputs.requirements.append((text.strip(), 'requirements'))
    for path in options.requirements_files:
        read_requirement_file(path, inputs)
    constraint_files = list(options.constraints_files)
    pipconf = pip_configuration() if options.use_pip_config else None
    if pipconf:
        constraint_files += pipconf['constraints']
    for path in constraint_files:
        read_requirement_file(path, inputs, constraint=True)
    if options.include_installers:
        named = set(normalise_name(parse(text, origin).name) for text, origin in inputs.requirements)
        inputs.requirements.extend((name, 'include_installers') for name in INSTALLERS if name not in named)
    if not inputs.requirements:
        raise ResolutionError('nothing to build: requirements and requirements_files are empty; name what the cache must hold')
    for text, origin in inputs.requirements + inputs.constraints:
        parse(text, origin)
    index = options.index_url or (pipconf and pipconf['index_url']) or PYPI_SIMPLE
    for option, url in [('index_url', index)] + [('extra_index_urls', url) for url in options.extra_index_urls]:
        check_index_url(option, url)
    inputs.index_urls = [index] + list(options.extra_index_urls)
    if pipconf:
        inputs.index_urls += [url for url in pipconf['extra_index_urls'] if url not in inputs.index_urls]
        inputs.find_links = pipconf['find_links']
        if pipconf['no_index'] and not options.index_url:
            inputs.index_urls = list(options.extra_index_urls)
    return inputs


def check_index_url(option, url):
    """An index is an http(s):// or file:// URL; anything else is named (without credentials) and refused."""
    parts = urlsplit(url or '')
    if not (parts.scheme in ('http', 'https') and parts.hostname or parts.scheme == 'file' and parts.path):
        raise ResolutionError('%s %r is not an index URL: give https://host/simple/ (or file:///path)'
                              % (option, strip_credentials(url)))


def _platform_description(index, platform):
    try:
        return platform_info.complete_python_description(platform)
    except AirgapError as exc:
        raise AirgapError('platforms[%d]: %s' % (index, exc.msg))


def platform_descriptions(platforms):
    """Completed descriptions, one per environment key, in the order given (the running host when empty)."""
    described = [_platform_description(index, p) for index, p in enumerate(platforms)] or [platform_info.describe_running_python()]
    result = []
    keys = set()
    for description in described:
        if description['key'] not in keys:
            keys.add(description['key'])
            # The interpreter path and pip availability describe one host, not the environment.
            for host_only in ('interpreter', 'pip_available'):
                description.pop(host_only, None)
            result.append(description)
    return result


# ---------------------------------------------------------------- sdist builds

def pip_environment(use_pip_config):
    """Environment for a pip subprocess: ambient pip configuration removed unless asked for."""
    settings = {'PIP_DISABLE_PIP_VERSION_CHECK': '1', 'SOURCE_DATE_EPOCH': SOURCE_DATE_EPOCH}
    if use_pip_config:
        return process.clean_environment((), **settings)
    return process.clean_environment(('PIP_',), PIP_CONFIG_FILE=os.devnull, **settings)


class SdistBuilder:
    """Builds wheels from sdists with the controller's pip, once per sdist per run."""

    def __init__(self, workdir, index_urls, find_links, use_pip_config, python=None):
        self.workdir = workdir
        self.index_urls = index_urls
        self.find_links = find_links
        self.use_pip_config = use_pip_config
        self.python = python or sys.executable
        self._built = {}  # sdist sha256 -> the wheel
        self._failed = {}  # sdist sha256 -> (pip's exit status, the tail of its output)
        self.builds = 0

    def build(self, name, version, sdist_path, target):
        digest = sha256_file(sdist_path)
        if digest in self._failed:
            raise self._failure(name, version, target, *self._failed[digest])
        if digest in self._built:
            return self._built[digest]
        outdir = tempfile.mkdtemp(prefix='build-', dir=self.workdir)
        argv = [self.python, '-m', 'pip', 'wheel', '--no-deps', '--no-input', '--progress-bar', 'off', '-w', outdir]
        if not self.use_pip_config:
            argv.append('--isolated')
        if self.index_urls:
            argv += ['--index-url', self.index_urls[0]]
            for url in self.index_urls[1:]:
                argv += ['--extra-index-url', url]
        else:
            argv.append('--no-index')
        for location in self.find_links:
            argv += ['--find-links', location]
        argv.append(sdist_path)
        self.builds += 1
        rc, out, err = process.run(argv, pip_environment(self.use_pip_config), cwd=outdir)
        wheels = [f for f in os.listdir(outdir) if f.endswith('.whl')]
        if rc != 0 or len(wheels) != 1:
            self._failed[digest] = (rc, Redactor(self.index_urls)((err or out).strip()[-1500:]))
            raise self._failure(name, version, target, *self._failed[digest])
        self._built[digest] = os.path.join(outdir, wheels[0])
        return self._built[digest]

    @staticmethod
    def _failure(name, version, target, rc, tail):
        return ResolutionError(
            '%s %s publishes only an sdist for %s and building it to a wheel here failed (pip wheel exit %d): %s. '
            'Name a builder of that key (builder_keys), or pin a version that has a wheel.'
            % (name, version, target.key, rc, tail), package=name, version=version)


# ---------------------------------------------------------------- one cache directory

class CacheState:
    """One platform's cache directory: what it holds now and what it will hold."""

    def __init__(self, dest, description, inputs_record):
        self.description = description
        self.key = description['key']
        self.path = os.path.join(dest, self.key)
        self.inputs_record = inputs_record
        self.old = None
        self.problems = []
        self.note = None
        if os.path.exists(manifest_path(self.path)):
            try:
                self.old = load_manifest(self.path)
            except ManifestError as exc:
                self.note = exc.msg
        if self.old is not None:
            self.problems = [p for p in (artifact_problem(self.path, a) for a in self.old.artifacts) if p]
        self.resolution = None
        self.new = None
        self.sources = {}  # filename -> path of the file to link in
        self.repaired = []
        self.pruned = []
        self.pylock_written = False
        self.pending = []  # candidates a builder of this key builds from their sdists (builder_keys)
        self.build = None  # the result entry of this key's build inputs, when it has pending builds
        self.build_changed = False
        self.built_from = {}  # path of a wheel from built_wheels -> its provenance

    @property
    def old_filenames(self):
        return sorted(a.filename for a in self.old.artifacts) if self.old else []

    def is_current(self, refresh):
        return (not refresh and self.old is not None and self.old.ecosystem == 'python' and not self.problems
                and self.old.environment_key == self.key and self.old.inputs == self.inputs_record)

    def verified_files(self):
        bad = set(os.path.basename(p['file']) for p in self.problems)
        if self.old is None:
            return {}
        return dict((a.filename, os.path.join(self.path, a.filename)) for a in self.old.artifacts if a.filename not in bad)

    def preferred_versions(self, refresh):
        if refresh or self.old is None:
            return {}
        return dict((a.name, a.version) for a in self.old.artifacts)


def artifact_for(candidate, path, sha256, size, built_from=None):
    filename = os.path.basename(path)
    return Artifact(
        filename=filename, name=candidate.name, version=str(candidate.version), size=size, sha256=sha256,
        platform='-'.join(filename[:-4].split('-')[-3:]), requires=candidate.requires or [],
        source=candidate.dist.source if candidate.dist else '', built=candidate.built,
        native=not wheeltags.is_pure_wheel(filename), built_from=built_from)


def new_manifest(state, artifacts):
    resolution = state.resolution
    requirements = [TopLevel(text, name, closure) for text, name, closure in resolution.toplevel]
    return Manifest('python', state.description, requirements, artifacts, generator=GENERATOR, inputs=state.inputs_record)


def render_pylock(manifest):
    """PEP 751 pylock.toml for a cache, wheels referenced by paths relative to it."""
    def q(value):
        return json.dumps(value)
    env = manifest.environment.get('marker_environment') or {}
    lines = ['lock-version = "1.0"']
    marker = ' and '.join('%s == %s' % (name, q(env[name])) for name in ('sys_platform', 'platform_machine',
                                                                         'implementation_name', 'python_version')
                          if env.get(name))
    if marker:
        lines.append('environments = [%s]' % q(marker))
    lines.append('created-by = %s' % q(GENERATOR))
    for artifact in manifest.artifacts:
        lines += ['', '[[packages]]', 'name = %s' % q(artifact.name), 'version = %s' % q(artifact.version)]
        if artifact.source and not artifact.built:
            lines.append('index = %s' % q(artifact.source))
        lines += ['', '[[packages.wheels]]', 'name = %s' % q(artifact.filename), 'path = %s' % q('./' + artifact.filename),
                  'size = %d' % artifact.size, 'hashes = {sha256 = %s}' % q(artifact.sha256)]
    return ('\n'.join(lines) + '\n').encode('utf-8')


# ---------------------------------------------------------------- the run

def _resolver():
    from . import resolver
    if resolver.PACKAGING_IMPORT_ERROR:
        raise ResolutionError('wheel_cache needs the packaging library on the controller (pip install packaging)',
                              exception=resolver.PACKAGING_IMPORT_ERROR)
    return resolver


def build_caches(options, check_mode=False):
    """Bring every platform's cache up to date; returns (changed, caches, diffs)."""
    resolver = _resolver()
    inputs = collect_inputs(options, resolver.parse_requirement)
    with _locked_states(options, inputs, check_mode) as states:
        stale = [state for state in states if not state.is_current(options.refresh)]
        if stale:
            with cache_dir.workspace(options.dest, check_mode) as scratch:
                resolve_for = _resolve_all(stale, inputs, options, scratch, resolver)
                ready = [state for state in stale if not state.pending]
                _fetch_all(ready, inputs, options, scratch, check_mode)
                for state in ready:
                    state.new = new_manifest(state, state.artifacts)
                placer = None if check_mode else cache_dir.Placer(scratch)
                for state in ready:
                    if placer:
                        _commit(state, placer)
                for state in stale:
                    if state.pending:
                        _write_build_inputs(state, options, scratch, resolve_for, placer)
        _tidy(states, options, check_mode)
    return _report(states, check_mode)


def current_report(options, check_mode=False):
    """What build_caches returns when every cache is current and tidy (so it would change nothing); else None.

    Reads only, under the locks build_caches takes, so a build in progress is never reported half done.
    """
    inputs = collect_inputs(options, _resolver().parse_requirement)
    if not cache_dir.may_be_current(options.dest, check_mode):
        return None
    with _locked_states(options, inputs, check_mode=True) as states:
        if not all(state.is_current(options.refresh) for state in states):
            return None
        _tidy(states, options, check_mode=True)
        report = _report(states)
    changed, _caches, _diffs = report
    return None if changed else report


def module_result(report, want_diff):
    """The module's result from a (changed, caches, diffs) report."""
    changed, caches, diffs = report
    # Signing after the build may change a cache the build left as it was.
    result = dict(changed=changed or any(cache['changed'] for cache in caches), caches=caches,
                  builds=[cache['build'] for cache in caches if cache.get('build')])
    if want_diff:
        result['diff'] = diffs
    return result


@contextlib.contextmanager
def _locked_states(options, inputs, check_mode):
    """Each platform's CacheState, read under its cache's lock (cache_dir.locked)."""
    descriptions = platform_descriptions(options.platforms)
    record = inputs.fingerprint(options)
    with cache_dir.locked(options.dest, [d['key'] for d in descriptions], check_mode):
        yield [CacheState(options.dest, description, record) for description in descriptions]


def _tidy(states, options, check_mode):
    """Plan pruning and pylock.toml rewrites for every cache; carry them out unless in check mode."""
    for state in states:
        manifest = state.new or state.old
        if options.prune and manifest is not None:
            state.pruned = cache_dir.prune(state.path, [a.filename for a in manifest.artifacts], check_mode)
        if options.pylock and manifest is not None:
            state.pylock_written = _pylock_differs(state, manifest)
            if state.pylock_written and not check_mode:
                atomic_write_bytes(os.path.join(state.path, PYLOCK_NAME), render_pylock(manifest))


def _resolve_all(states, inputs, options, scratch, resolver):
    """Resolve every state; returns resolve_for(state, requirements), which resolves more for a state's target."""
    client = IndexClient(inputs.index_urls, inputs.find_links, timeout=options.timeout)
    builder = SdistBuilder(scratch, inputs.index_urls, inputs.find_links, options.use_pip_config)
    constraints = inputs.constraint_map(resolver.parse_requirement)
    built = built_wheels_by_key(options.built_wheels)
    missing = []
    for state in states:
        target = resolver.Target(state.description)
        local_files = dict(state.verified_files(), **dict((os.path.basename(path), path) for path in built.get(state.key, {})))
        state.built_from = built.get(state.key, {})
        state.resolution = resolver.resolve(target, inputs.requirements, client, scratch, builder, constraints,
                                            state.preferred_versions(options.refresh), local_files,
                                            has_builder=state.key in options.builder_keys)
        state.client = client
        if state.key in options.builder_keys:
            state.pending = sorted((c for c in state.resolution.pins.values() if c.needs_builder), key=lambda c: c.name)
        for candidate in sorted(state.resolution.missing, key=lambda c: c.name):
            if candidate not in state.pending:
                missing.append(_missing_entry(candidate, state.key))
    if missing:
        raise ResolutionError(
            'no wheel fits %s: %s. Pin versions that publish wheels for these platforms, name a builder host for %s '
            '(builder_keys), or leave the platform out; nothing was changed.'
            % ('these platforms' if len(states) > 1 else states[0].key,
               '; '.join('%s %s for %s (%s)' % (m['package'], m['version'], m['platform'], m['problem']) for m in missing),
               'these keys' if len(set(m['platform'] for m in missing)) > 1 else 'the key'),
            missing=missing)

    def resolve_for(state, requirements):
        return resolver.resolve(resolver.Target(state.description), requirements, client, scratch, builder)
    return resolve_for


def built_wheels_by_key(entries):
    """built_wheels as key -> {path: built_from}, each file checked against the sha256 its builder reported."""
    result = {}
    for index, entry in enumerate(entries):
        missing = [field for field in ('key', 'path', 'sha256') if not entry.get(field)]
        if missing:
            raise ResolutionError('built_wheels[%d] lacks %s: give key, path, sha256 and built_from' % (index, ', '.join(missing)))
        path = os.path.abspath(entry['path'])
        if not path.endswith('.whl') or not os.path.isfile(path):
            raise ResolutionError('built_wheels[%d]: %s is not a wheel file on this host' % (index, path), file=path)
        actual = sha256_file(path)
        if actual != entry['sha256']:
            raise ResolutionError(
                '%s has sha256 %s, but its builder reported %s: it was altered or cut short on its way from the builder; '
                'nothing was changed, build it again' % (path, actual, entry['sha256']), file=path)
        built_from = dict((str(k), str(v)) for k, v in sorted((entry.get('built_from') or {}).items()))
        result.setdefault(entry['key'], {})[path] = built_from
    return result


def _write_build_inputs(state, options, scratch, resolve_for, placer):
    """Plan (and unless in check mode, write) the build inputs of a state whose key's builder builds its sdists."""
    path = build_inputs.build_inputs_path(options.dest, state.key)
    old = None
    if os.path.exists(manifest_path(path)):
        try:
            old = load_manifest(path)
        except ManifestError:
            old = None
    if placer is None:
        sdists = [{'name': c.name, 'version': str(c.version), 'filename': c.dist.filename, 'sha256': c.dist.sha256 or None}
                  for c in state.pending]
        state.build = {'key': state.key, 'path': path, 'digest': None, 'sdists': sdists}
        state.build_changed = True
        return

    def fetch(candidate):
        if candidate.wheel_path:
            path, sha256, size = candidate.wheel_path, sha256_file(candidate.wheel_path), os.path.getsize(candidate.wheel_path)
        else:
            path, sha256, size = state.client.fetch(candidate.dist, scratch)
        return path, artifact_for(candidate, path, sha256, size)
    manifest, sources = build_inputs.plan(state, state.pending, lambda reqs: resolve_for(state, reqs), fetch, GENERATOR)
    if old is None or old.digest != manifest.digest or any(artifact_problem(path, a) for a in manifest.artifacts):
        for filename, source in sorted(sources.items()):
            placer.place(source, os.path.join(path, filename))
        cache_dir.commit(path, manifest, None)
        state.build_changed = True
    cache_dir.prune(path, [a.filename for a in manifest.artifacts])
    state.build = build_inputs.build_entry(state.key, path, manifest)


def _missing_entry(candidate, key):
    wheels = sorted(d.filename for d in candidate.files if d.is_wheel)
    tags = sorted(set('-'.join(f[:-4].split('-')[-3:]) for f in wheels))
    sdists = [d.filename for d in candidate.files if not d.is_wheel]
    problem = candidate.problem or 'no wheel for this platform'
    if not candidate.built:
        problem = 'available wheel tags: %s%s' % (', '.join(tags) or 'none', '; sdist: %s' % ', '.join(sdists) if sdists else '; no sdist')
    return {'package': candidate.name, 'version': str(candidate.version), 'platform': key, 'available_tags': tags,
            'sdists': sdists, 'problem': problem}


def _fetch_all(states, inputs, options, scratch, check_mode):
    """Get every file the new manifests list into the workspace (or find it in the cache); check hash pins."""
    mismatched = []
    for state in states:
        old_by_name = dict((a.filename, a) for a in state.old.artifacts) if state.old else {}
        verified = state.verified_files()
        artifacts = []
        for name in sorted(state.resolution.pins):
            candidate = state.resolution.pins[name]
            filename = candidate.filename
            built_from = state.built_from.get(candidate.wheel_path)
            if filename in verified:
                old = old_by_name[filename]
                path, sha256, size = verified[filename], old.sha256, old.size
                built_from = built_from or old.built_from
            elif check_mode:
                artifacts.append(_planned_artifact(candidate))
                continue
            elif candidate.wheel_path:
                path = candidate.wheel_path
                sha256, size = sha256_file(path), os.path.getsize(path)
            else:
                path, sha256, size = state.client.fetch(candidate.dist, scratch)
                candidate.wheel_path = path
            pins = inputs.hashes.get(name)
            pinned_sha = candidate.dist.sha256 if candidate.built and candidate.dist else sha256
            if pins and pinned_sha not in pins:
                mismatched.append('%s (%s sha256 %s, pinned %s)' % (name, candidate.dist.filename if candidate.built else filename,
                                                                    pinned_sha, ', '.join(sorted(pins))))
            if filename not in verified:
                state.sources[os.path.basename(path)] = path
                if filename in old_by_name:
                    state.repaired.append(filename)
            artifacts.append(artifact_for(candidate, path, sha256, size, built_from))
        state.artifacts = artifacts
    if mismatched:
        raise ResolutionError('hash pins in the requirements files do not match: %s; nothing was changed'
                              % '; '.join(sorted(set(mismatched))), mismatched=sorted(set(mismatched)))


def _planned_artifact(candidate):
    dist = candidate.dist
    filename = candidate.filename or (dist.filename if dist else '?')
    return Artifact(filename=filename, name=candidate.name, version=str(candidate.version), size=(dist.size if dist else 0) or 0,
                    sha256=(dist.sha256 if dist and not candidate.built else '') or '', requires=candidate.requires or [],
                    source=dist.source if dist else '', built=candidate.built,
                    native=filename.endswith('.whl') and not wheeltags.is_pure_wheel(filename))


def _commit(state, placer):
    for filename, source in sorted(state.sources.items()):
        placer.place(source, os.path.join(state.path, filename))
    cache_dir.commit(state.path, state.new, state.old)


def _pylock_differs(state, manifest):
    try:
        with open(os.path.join(state.path, PYLOCK_NAME), 'rb') as handle:
            return handle.read() != render_pylock(manifest)
    except (IOError, OSError):
        return True


def _report(states, check_mode=False):
    caches = []
    diffs = []
    for state in states:
        manifest = state.new or state.old
        after = sorted(a.filename for a in manifest.artifacts) if manifest else []
        before = state.old_filenames
        digest_changed = state.new is not None and (state.old is None or state.new.digest != state.old.digest)
        extra = {'build': state.build} if state.build else {}
        caches.append(cache_dir.report(
            state.key, state.path, before, after, state.pruned,
            digest_changed or state.repaired or state.pruned or state.pylock_written or state.build_changed,
            # A planned manifest lacks the sha256 of files not fetched yet: no digest to promise in check mode.
            # A key waiting for its builder has no cache to promise either.
            digest=manifest.digest if manifest is not None and not (check_mode and digest_changed) and not state.pending else None,
            artifacts=len(after), repaired=sorted(state.repaired),
            skipped_requirements=list(state.resolution.skipped) if state.resolution else [],
            resolved=state.resolution is not None, **extra))
        diffs.append(cache_dir.diff(state.path, before, after))
    return any(cache['changed'] for cache in caches), caches, diffs
