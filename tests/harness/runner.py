# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real ansible / ansible-playbook CLI against this working copy of the collection."""

import json
import os
import subprocess
import sys

HARNESS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HARNESS))


def collections_root():
    """A directory holding ansible_collections/airgap/packages -> this working copy."""
    root = os.path.join(REPO, 'build', 'collections')
    link = os.path.join(root, 'ansible_collections', 'airgap', 'packages')
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(REPO, link)
    return root


def ansible_env(extra=None):
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ)
    env.update({
        'PATH': bin_dir + os.pathsep + env.get('PATH', ''),
        'ANSIBLE_COLLECTIONS_PATH': collections_root(),
        'ANSIBLE_HOST_KEY_CHECKING': 'True',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'ANSIBLE_DEPRECATION_WARNINGS': 'False',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_PYTHON_INTERPRETER': 'auto_silent',
    })
    env.update(extra or {})
    return env


RESULTS_CALLBACK = {'ANSIBLE_STDOUT_CALLBACK': 'airgap_results', 'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HARNESS, 'callback')}


def results_document(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"tasks"'):
            return json.loads(line)
    return {}


class PlaybookRun:
    def __init__(self, completed, document):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.tasks = document.get('tasks', [])
        self.stats = document.get('stats', {})

    def results(self, task_name):
        """host -> result of the task with that name."""
        return dict((t['host'], t['result']) for t in self.tasks if t['task'] == task_name)

    def total(self, counter):
        return sum(host.get(counter, 0) for host in self.stats.values())

    def __repr__(self):
        return 'PlaybookRun(rc=%d, stats=%r)\n%s\n%s' % (self.rc, self.stats, self.stdout[-3000:], self.stderr[-3000:])


class Ansible:
    """The ansible CLI, with one default inventory."""

    def __init__(self, inventory=None, env=None):
        self.inventory = inventory
        self.env = env or {}

    def module(self, pattern, module_name, args=None, check=False, diff=False, inventory=None, extra_vars=None):
        """Run one module (ad hoc); returns host -> result dict."""
        inventory = inventory or self.inventory or 'localhost,'
        argv = ['ansible', pattern, '-i', inventory, '-m', module_name]
        argv += ['-a', json.dumps(args)] if args else []
        if pattern == 'localhost':
            argv += ['-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable]
        for key, value in (extra_vars or {}).items():
            argv += ['-e', json.dumps({key: value})]
        argv += ['--check'] if check else []
        argv += ['--diff'] if diff else []
        env = ansible_env(dict(self.env, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', **RESULTS_CALLBACK))
        completed = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        run = PlaybookRun(completed, results_document(completed.stdout))
        results = dict((task['host'], task['result']) for task in run.tasks)
        if not results:
            raise AssertionError('ansible returned no result: %r' % run)
        return results

    def playbook(self, path, extra_vars=None, check=False, diff=False, inventory=None, limit=None, env=None):
        """Run a playbook; returns a PlaybookRun with per-task results and the recap."""
        inventory = inventory or self.inventory or 'localhost,'
        argv = ['ansible-playbook', path, '-i', inventory]
        if extra_vars:
            argv += ['-e', json.dumps(extra_vars)]
        argv += ['--check'] if check else []
        argv += ['--diff'] if diff else []
        argv += ['--limit', limit] if limit else []
        run_env = ansible_env(dict(self.env, **dict(env or {}, **RESULTS_CALLBACK)))
        completed = subprocess.run(argv, capture_output=True, text=True, env=run_env, check=False)
        return PlaybookRun(completed, results_document(completed.stdout))


# An environment: keyword the modules ignore; the wheel_cache and gem_cache action plugins run the module for it.
MODULE_PATH_ENVIRONMENT = {'AIRGAP_TEST_MODULE_PATH': '1'}


def local_tasks(ansible, workdir, tasks):
    """Run tasks on localhost over the local connection with this Python; returns task name -> result."""
    play = {'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
            'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': tasks}
    path = os.path.join(str(workdir), 'local_tasks.yml')
    with open(path, 'w') as handle:
        json.dump([play], handle)
    run = ansible.playbook(path, inventory='localhost,')
    if run.rc != 0:
        raise AssertionError('the playbook failed: %r' % run)
    return dict((task['task'], task['result']) for task in run.tasks)


def local_task_both_ways(ansible, workdir, module, args, check=False):
    """The same task on localhost over the local connection, once as written (a cache action plugin may
    answer in-process) and once with an environment: keyword (it runs the module). Returns both results."""
    task = {module: args, 'check_mode': check, 'diff': True}
    results = local_tasks(ansible, workdir, [dict(task, name='as written'),
                                             dict(task, name='as a module', environment=MODULE_PATH_ENVIRONMENT)])
    return results['as written'], results['as a module']
