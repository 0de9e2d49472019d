# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The options of the modules that gather the airgap_platform fact.
    DOCUMENTATION = r'''
options:
  python_interpreter:
    description:
      - Path of the Python interpreter to describe, for example the interpreter of a virtual
        environment that will receive the wheels.
      - Defaults to the interpreter running this module (C(ansible_python_interpreter)).
    type: path
  ruby_executable:
    description:
      - Name or path of the Ruby interpreter to describe. A name is looked up on C(PATH).
      - When it cannot be found, the C(ruby) part of the facts is C(null).
    type: str
    default: ruby
  gather_ruby:
    description:
      - Whether to describe Ruby at all.
    type: bool
    default: true
'''
