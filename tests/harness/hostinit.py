# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inside a test host's network and mount namespaces: build its root filesystem, then become its sshd.

Started by hosts.py as `unshare --mount --uts --propagation private python3 hostinit.py CONFIG`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys


def mount(*argv):
    subprocess.run(['mount'] + list(argv), check=True)


def whiteout(upper, path):
    """Hide path of the lower layer: an overlay whiteout is a 0/0 character device."""
    target = os.path.join(upper, path.lstrip('/'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        return
    os.mknod(target, 0o600 | 0o020000, os.makedev(0, 0))


def empty_home(upper, lower):
    """An opaque /root: none of the controller's dotfiles, pip config or pyenv."""
    home = os.path.join(upper, 'root')
    os.makedirs(home, exist_ok=True)
    os.setxattr(home, 'trusted.overlay.opaque', b'y')
    os.chmod(home, 0o700)
    skel = os.path.join(lower, 'etc', 'skel')
    for name in ('.bashrc', '.profile'):
        if os.path.exists(os.path.join(skel, name)):
            shutil.copy(os.path.join(skel, name), os.path.join(home, name))


def main():
    config = json.loads(sys.argv[1])
    mnt = config['mountpoint']
    mount('-t', 'tmpfs', '-o', 'mode=0755', 'airgap-host', mnt)
    upper, work, root = (os.path.join(mnt, part) for part in ('upper', 'work', 'root'))
    for directory in (upper, work, root):
        os.makedirs(directory)
    for path in config['hidden']:
        whiteout(upper, path)
    empty_home(upper, config['lower'])
    shutil.copytree(config['files'], upper, dirs_exist_ok=True)
    mount('-t', 'overlay', 'overlay', '-o', 'lowerdir=%s,upperdir=%s,workdir=%s' % (config['lower'], upper, work), root)
    mount('--rbind', '/dev', os.path.join(root, 'dev'))
    mount('--rbind', '/sys', os.path.join(root, 'sys'))
    mount('-t', 'proc', 'proc', os.path.join(root, 'proc'))
    for scratch in ('run', 'tmp'):
        mount('-t', 'tmpfs', '-o', 'mode=%s' % ('1777' if scratch == 'tmp' else '0755'), scratch, os.path.join(root, scratch))
    os.makedirs(os.path.join(root, 'run', 'sshd'), mode=0o755)
    socket.sethostname(config['hostname'])
    os.chroot(root)
    os.chdir('/')
    env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'}
    os.execve('/usr/sbin/sshd', ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/airgap/sshd_config'], env)


if __name__ == '__main__':
    main()
