# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The modules that sign manifests (and store pointers).
    DOCUMENTATION = r'''
options:
  signing_key:
    description:
      - Path of an SSH private key on the host that runs the task, to sign with (C(ssh-keygen -Y sign),
        namespace C(airgap.packages)). Unencrypted, or loaded into C(ssh-agent).
      - What is signed is the canonical JSON of each manifest (the bytes its digest is computed from),
        and for a store each channel pointer.
      - Signing again with the same key changes nothing; a signature by another key is replaced.
    type: path
'''

    # The modules that check signatures before they use anything.
    TRUST = r'''
options:
  trusted_keys:
    description:
      - Path of an OpenSSH C(allowed_signers) file on the host that runs the task (one C(principal keytype key)
        line per trusted key; see C(ssh-keygen(1)), ALLOWED SIGNERS).
      - When set, a manifest (and a store pointer) is used only when one of these keys signed it. An unsigned
        one, one signed by another key, and one altered after it was signed are refused, naming the file and
        the key, before anything is staged or installed.
      - To roll to a new key, list both keys here, sign with the new one, then drop the old one.
    type: path
'''
