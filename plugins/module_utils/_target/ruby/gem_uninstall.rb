# frozen_string_literal: true

# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# gem_target.uninstall runs this file with `ruby -e` on a target, in a private gem environment.
# Uninstall exact installed specifications through RubyGems' own uninstaller (executables,
# plugins, extensions, cache and spec), without prompts or dependency questions: the plan
# already decided. ARGV: install dir, bindir, full names.

require 'rubygems/uninstaller'
dir, bindir, *full_names = ARGV
dir = File.realpath(dir)
full_names.each do |full_name|
  path = File.join(dir, 'specifications', full_name + '.gemspec')
  spec = Gem::Specification.load(path)
  abort "cannot read #{path}" unless spec
  Gem::Uninstaller.new(spec.name, :version => spec.version, :install_dir => dir, :bin_dir => bindir,
                       :executables => true, :ignore => true, :abort_on_dependent => false).uninstall_gem(spec)
end
