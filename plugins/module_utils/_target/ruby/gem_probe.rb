# frozen_string_literal: true

# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# gem_target.probe runs this file with `ruby -e` on a target, in a clean environment.
# The probe: one ruby run, no `gem` command, nothing written. ARGV: mode (dir|user|default),
# the dir (for mode dir), then gem platforms to match against this ruby. 'depends' names every
# path the answer rests on, for the caller's record of it (gem_target.ProbeRecord).

require 'json'
require 'rbconfig'
mode, dir, *platforms = ARGV
dir = case mode
      when 'user' then Gem.user_dir
      when 'default' then Gem.default_dir
      else File.expand_path(dir)
      end
installed = []
unreadable = []
depends = [File.join(dir, 'specifications'), File.join(dir, 'gems')]
Dir.glob(File.join(dir, 'specifications', '*.gemspec')).sort.each do |path|
  depends << path
  spec = begin
    Gem::Specification.load(path)
  rescue StandardError, SyntaxError
    nil
  end
  if spec.nil?
    unreadable << path
    next
  end
  # An installed specification keeps no file list; what it has to have is its gem directory, not empty.
  gem_dir = File.join(dir, 'gems', spec.full_name)
  missing_files = File.directory?(gem_dir) && !Dir.empty?(gem_dir) ? [] : [File.join('gems', spec.full_name)]
  depends << gem_dir
  depends.push(spec.extension_dir, spec.gem_build_complete_path) unless spec.extensions.empty?
  installed << {
    'name' => spec.name, 'version' => spec.version.to_s, 'platform' => spec.platform.to_s,
    'full_name' => spec.full_name, 'extensions' => !spec.extensions.empty?,
    'missing_extensions' => spec.missing_extensions?, 'missing_files' => missing_files,
    'requires' => spec.runtime_dependencies.map(&:name).sort.uniq
  }
end
fits = {}
platforms.each do |name|
  platform = Gem::Platform.new(name)
  fits[name] = Gem.platforms.any? do |local|
    local == platform || (local != Gem::Platform::RUBY && platform != Gem::Platform::RUBY && local =~ platform)
  end
end
defaults = []
if Gem::Specification.respond_to?(:default_stubs)
  stubs = Gem::Specification.default_stubs
  defaults = stubs.map(&:name).uniq.sort
  depends << Gem.default_specifications_dir
  depends.concat(stubs.map(&:loaded_from))
end
make = ENV['MAKE'] || ENV['make'] || RbConfig::CONFIG['configure_args'].to_s[/with-make-prog\=(\w+)/, 1] || 'make'
headers = [File.join(RbConfig::CONFIG['rubyhdrdir'].to_s, 'ruby.h')]
headers << File.join(RbConfig::CONFIG['rubyarchhdrdir'].to_s, 'ruby', 'config.h') if RbConfig::CONFIG['rubyarchhdrdir']
# The interpreter, every file this run loaded (RubyGems and the standard library among them: a package that
# updates libruby updates these too) and the directories a file could be put in to shadow one of them.
depends << RbConfig.ruby
loaded = $LOADED_FEATURES.select { |feature| feature.start_with?('/') }
depends.concat(loaded + loaded.map { |feature| File.dirname(feature) } + $LOAD_PATH.map(&:to_s))
puts JSON.generate(
  'ruby' => RUBY_VERSION, 'rubygems' => Gem::VERSION, 'local_platform' => Gem::Platform.local.to_s,
  'api_version' => RbConfig::CONFIG['ruby_version'].to_s, 'engine' => (defined?(RUBY_ENGINE) ? RUBY_ENGINE : 'ruby'),
  'gem_dir' => dir, 'bindir' => Gem.bindir(dir),
  'platforms' => Gem.platforms.map(&:to_s), 'fits' => fits, 'default_gems' => defaults,
  'installed' => installed, 'unreadable' => unreadable,
  'cc' => (ENV['CC'] || RbConfig::CONFIG['CC']).to_s, 'make' => make,
  'headers' => headers.map { |h| [h, File.exist?(h)] },
  'depends' => (depends + headers).compact.map(&:to_s).uniq.sort
)
