# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline target hosts on this machine: network namespace + overlay root + chrooted sshd.

Each host is a network namespace joined to the root namespace by a veth pair with no default
route, its own root filesystem (an overlay over a private tmpfs, so that installs stay on that
host), the controller's pip mirrors and configuration hidden, and its own sshd with key-only
root login. Hosts are started and stopped by PID; a crashed run leaves only namespaces that the
next run steps around (and `stop-all` removes).

    python3 tests/harness/hosts.py start --count 3 --state-dir DIR   # writes DIR/inventory.yml
    python3 tests/harness/hosts.py stop --state-dir DIR
    python3 tests/harness/hosts.py stop-all
"""

import argparse
import ipaddress
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

NETNS_PREFIX = 'agh-'
SUBNET = ipaddress.ip_network('10.250.0.0/16')
MAX_SLOTS = SUBNET.num_addresses // 4
INIT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hostinit.py')

# What a target must not see of the controller: package mirrors, pip configuration, the
# controller's working trees. /root becomes an empty home (see hostinit.py).
DEFAULT_HIDDEN = (
    '/opt',
    '/work',
    '/etc/pip.conf',
    '/etc/xdg/pip',
    '/etc/gemrc',
)

SSHD_CONFIG = """\
ListenAddress {address}
Port 22
HostKey /etc/ssh/airgap/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/airgap/authorized_keys
PidFile none
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp internal-sftp
"""


class Host:
    def __init__(self, name, slot, address, gateway, netns, pid=None):
        self.name = name
        self.slot = slot
        self.address = address
        self.gateway = gateway
        self.netns = netns
        self.pid = pid

    @property
    def veth(self):
        return 'agh%dh' % self.slot

    def to_dict(self):
        return dict(vars(self))


class HostFleet:
    """A set of offline hosts whose keys, inventory and records live in state_dir."""

    def __init__(self, state_dir):
        self.state_dir = os.path.abspath(state_dir)
        self.hosts = []
        # Addresses of the root namespace that every host has a route to (see reach()).
        self.reachable = []
        self.record = os.path.join(self.state_dir, 'fleet.json')
        if os.path.exists(self.record):
            with open(self.record) as handle:
                data = json.load(handle)
            self.hosts = [Host(**host) for host in data['hosts']]
            self.reachable = data.get('reach', [])

    @property
    def inventory(self):
        return os.path.join(self.state_dir, 'inventory.yml')

    @property
    def names(self):
        return [host.name for host in self.hosts]

    @property
    def key(self):
        return os.path.join(self.state_dir, 'id_ed25519')

    @property
    def known_hosts(self):
        return os.path.join(self.state_dir, 'known_hosts')

    def host(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError('no host %s in %s' % (name, self.state_dir))

    def start(self, count, lower='/', hide=(), group='offline', name_prefix='host', reach=()):
        """Start count hosts (in addition to any this fleet already runs) and write the inventory.

        reach: addresses to route to, as reach() does; they apply to the hosts started later too.
        """
        require_root_tools()
        os.makedirs(self.state_dir, mode=0o755, exist_ok=True)
        self._add_reachable(reach)
        if not os.path.exists(self.key):
            run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'airgap-test-controller', '-f', self.key])
        hidden = list(DEFAULT_HIDDEN) + list(hide)
        started = []
        try:
            for _index in range(count):
                host = self._allocate('%s%d' % (name_prefix, len(self.hosts) + 1))
                self.hosts.append(host)
                started.append(host)
                self._save()
                self._boot(host, lower, hidden)
            for host in started:
                wait_for_port(host.address, 22)
        except BaseException:
            for host in started:
                teardown(host)
                self.hosts.remove(host)
            self._save()
            raise
        self._write_inventory(group)
        return started

    def named(self, prefix):
        """The first host started with name_prefix=prefix."""
        return next(name for name in self.names if name.startswith(prefix))

    def grouped_inventory(self, prefixes):
        """Write, beside the inventory, one that also has a group per prefix with the hosts started with that
        name_prefix (for group variables such as offline_install_builders); returns its path."""
        with open(self.inventory) as handle:
            inventory = json.load(handle)
        for prefix in prefixes:
            hosts = dict((name, {}) for name in self.names if name.startswith(prefix))
            inventory['all']['children'][prefix] = {'hosts': hosts}
        path = os.path.join(self.state_dir, 'grouped-inventory.json')
        with open(path, 'w') as handle:
            json.dump(inventory, handle)
        return path

    def reach(self, address):
        """Let every host, running or started later, reach one address of the root namespace and still nothing else.

        A /32 route through the host's own gateway, like a VPC endpoint: the address must be assigned on this
        machine (EndpointAddress), or the traffic would leave it. The routes go with the namespaces.
        """
        self._add_reachable([address])
        for host in self.hosts:
            self._route(host, address)

    def stop(self):
        for host in self.hosts:
            teardown(host)
        self.hosts = []
        self._save()

    def ssh_argv(self, name):
        host = self.host(name)
        return ['ssh', '-i', self.key, '-o', 'UserKnownHostsFile=%s' % self.known_hosts,
                '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10',
                'root@%s' % host.address]

    def run(self, name, argv, check=False, input=None, timeout=300):
        """Run argv on a host over ssh; returns the CompletedProcess (text)."""
        return subprocess.run(self.ssh_argv(name) + ['--', shlex.join(argv)], input=input, capture_output=True,
                              text=True, check=check, timeout=timeout)

    def push_dir(self, name, local, remote):
        """Copy a directory to a host as one tar stream over ssh, replacing what was at remote."""
        tar = subprocess.Popen(['tar', '-C', local, '-cf', '-', '.'], stdout=subprocess.PIPE)
        command = 'rm -rf %s && mkdir -p %s && tar -C %s -xf -' % ((shlex.quote(remote),) * 3)
        done = subprocess.run(self.ssh_argv(name) + ['--', command], stdin=tar.stdout, capture_output=True, check=False)
        tar.wait()
        if done.returncode != 0 or tar.returncode != 0:
            raise RuntimeError('copying %s to %s:%s failed: %s' % (local, name, remote, done.stderr.decode()[-2000:]))

    def _allocate(self, name):
        for slot in range(MAX_SLOTS):
            netns = '%s%d' % (NETNS_PREFIX, slot)
            # `ip netns add` fails when the name exists: the namespace itself is the allocation.
            if subprocess.run(['ip', 'netns', 'add', netns], capture_output=True, check=False).returncode == 0:
                base = SUBNET.network_address + slot * 4
                return Host(name, slot, str(base + 2), str(base + 1), netns)
        raise RuntimeError('no free network slot for a test host: run `hosts.py stop-all`')

    def _boot(self, host, lower, hidden):
        host_dir = os.path.join(self.state_dir, host.name)
        os.makedirs(host_dir, exist_ok=True)
        self._make_host_files(host, host_dir)
        veth_peer = 'agh%dn' % host.slot
        run(['ip', 'link', 'add', host.veth, 'type', 'veth', 'peer', 'name', veth_peer])
        run(['ip', 'link', 'set', veth_peer, 'netns', host.netns])
        run(['ip', 'addr', 'add', '%s/30' % host.gateway, 'dev', host.veth])
        run(['ip', 'link', 'set', host.veth, 'up'])
        in_ns = ['ip', 'netns', 'exec', host.netns]
        run(in_ns + ['ip', 'link', 'set', veth_peer, 'name', 'eth0'])
        run(in_ns + ['ip', 'addr', 'add', '%s/30' % host.address, 'dev', 'eth0'])
        run(in_ns + ['ip', 'link', 'set', 'eth0', 'up'])
        run(in_ns + ['ip', 'link', 'set', 'lo', 'up'])
        for address in self.reachable:
            self._route(host, address)
        config = {'hostname': host.name, 'lower': lower, 'hidden': hidden, 'files': os.path.join(host_dir, 'files'),
                  'mountpoint': os.path.join(host_dir, 'mnt')}
        os.makedirs(config['mountpoint'], exist_ok=True)
        log = open(os.path.join(host_dir, 'sshd.log'), 'ab')
        process = subprocess.Popen(
            in_ns + ['unshare', '--mount', '--uts', '--propagation', 'private', sys.executable, INIT_SCRIPT,
                     json.dumps(config)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        host.pid = process.pid
        self._save()

    def _add_reachable(self, addresses):
        for address in addresses:
            address = str(ipaddress.ip_address(address))
            # A route to an address that is not on this machine would send the hosts' traffic off it.
            if not run(['ip', '-o', 'addr', 'show', 'to', address]).stdout.strip():
                raise RuntimeError('%s is not assigned on this machine: the hosts may only reach addresses here' % address)
            if address not in self.reachable:
                self.reachable.append(address)
        self._save()

    @staticmethod
    def _route(host, address):
        run(['ip', 'netns', 'exec', host.netns, 'ip', 'route', 'replace', '%s/32' % address, 'via', host.gateway])

    def _make_host_files(self, host, host_dir):
        files = os.path.join(host_dir, 'files')
        key_dir = os.path.join(files, 'etc', 'ssh', 'airgap')
        os.makedirs(key_dir, exist_ok=True)
        host_key = os.path.join(key_dir, 'ssh_host_ed25519_key')
        if os.path.exists(host_key):
            os.unlink(host_key)
            os.unlink(host_key + '.pub')
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', host.name, '-f', host_key])
        with open(os.path.join(key_dir, 'sshd_config'), 'w') as handle:
            handle.write(SSHD_CONFIG.format(address=host.address))
        with open(self.key + '.pub') as source, open(os.path.join(key_dir, 'authorized_keys'), 'w') as handle:
            handle.write(source.read())
        with open(host_key + '.pub') as handle:
            public = ' '.join(handle.read().split()[:2])
        entries = [line for line in _read_lines(self.known_hosts) if not line.startswith(host.address + ' ')]
        entries.append('%s %s' % (host.address, public))
        with open(self.known_hosts, 'w') as handle:
            handle.write('\n'.join(entries) + '\n')

    def _save(self):
        os.makedirs(self.state_dir, exist_ok=True)
        tmp = self.record + '.tmp'
        with open(tmp, 'w') as handle:
            json.dump({'hosts': [host.to_dict() for host in self.hosts], 'reach': self.reachable}, handle, indent=1)
        os.rename(tmp, self.record)

    def _write_inventory(self, group):
        common = ('-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=120s'
                  % self.known_hosts)
        inventory = {
            'all': {'children': {group: {
                'hosts': dict((host.name, {'ansible_host': host.address}) for host in self.hosts),
                'vars': {
                    'ansible_user': 'root',
                    'ansible_ssh_private_key_file': self.key,
                    'ansible_ssh_common_args': common,
                    'ansible_python_interpreter': '/usr/bin/python3',
                },
            }}},
        }
        # JSON is valid YAML; no YAML library needed by the harness.
        with open(self.inventory, 'w') as handle:
            json.dump(inventory, handle, indent=2)


def teardown(host):
    """Stop a host by the PIDs in its namespace, then remove its veth and namespace."""
    pids = set()
    listed = subprocess.run(['ip', 'netns', 'pids', host.netns], capture_output=True, text=True, check=False)
    pids.update(int(pid) for pid in listed.stdout.split())
    if host.pid:
        pids.add(host.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 3
        while time.time() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)
    subprocess.run(['ip', 'link', 'del', host.veth], capture_output=True, check=False)
    subprocess.run(['ip', 'netns', 'del', host.netns], capture_output=True, check=False)


def _read_lines(path):
    try:
        with open(path) as handle:
            return [line.rstrip('\n') for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return os.path.exists('/proc/%d' % pid) and not _zombie(pid)


def _zombie(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (shlex.join(argv), result.returncode, result.stderr.strip()))
    return result


def require_root_tools():
    missing = [tool for tool in ('ip', 'unshare', 'ssh', 'ssh-keygen', '/usr/sbin/sshd')
               if not (os.path.exists(tool) or any(os.access(os.path.join(d, tool), os.X_OK)
                                                   for d in os.environ.get('PATH', '').split(os.pathsep)))]
    if os.geteuid() != 0:
        raise RuntimeError('offline test hosts need root (network namespaces, mounts): run as root')
    if missing:
        raise RuntimeError('offline test hosts need %s: apt-get install iproute2 openssh-server openssh-client util-linux'
                           % ', '.join(missing))


def wait_for_port(address, port, timeout=20):
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                if sock.recv(4).startswith(b'SSH'):
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError('sshd on %s:%d did not answer within %d s' % (address, port, timeout))
        time.sleep(0.05)


def stop_all():
    """Remove every test host namespace on this machine, whoever started it."""
    listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=False).stdout
    for line in listed.splitlines():
        netns = line.split()[0] if line.split() else ''
        if netns.startswith(NETNS_PREFIX):
            slot = int(netns[len(NETNS_PREFIX):])
            teardown(Host('stale', slot, '', '', netns))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('action', choices=['start', 'stop', 'stop-all', 'status'])
    parser.add_argument('--state-dir', help='where keys, inventory.yml and records live')
    parser.add_argument('--count', type=int, default=2)
    parser.add_argument('--lower', default='/', help='root filesystem the hosts see (a debootstrap dir for another release)')
    parser.add_argument('--hide', action='append', default=[], help='a path to hide on the hosts (repeatable)')
    parser.add_argument('--reach', action='append', default=[],
                        help='an address of this machine the hosts may reach, e.g. the endpoint address (repeatable)')
    args = parser.parse_args(argv)
    if args.action == 'stop-all':
        stop_all()
        return 0
    if not args.state_dir:
        parser.error('--state-dir is required for %s' % args.action)
    fleet = HostFleet(args.state_dir)
    if args.action == 'start':
        fleet.start(args.count, lower=args.lower, hide=args.hide, reach=args.reach)
        print(fleet.inventory)
    elif args.action == 'stop':
        fleet.stop()
    else:
        for host in fleet.hosts:
            print('%s %s %s pid=%s' % (host.name, host.address, host.netns, host.pid))
    return 0


if __name__ == '__main__':
    sys.exit(main())
