# Homebrew formula for kcheck, built from source with cargo.
#
# For a tap: brew tap-new you/tools, then copy this file into the tap's
# Formula folder. OWNER is a placeholder for where the repository is
# published; at each release set url to the release's source tarball and
# sha256 to its digest (shasum -a 256), and add a license line once the
# project has one (packaging/README.md has the steps). Until then
# `brew install --HEAD kcheck` builds the head of the repository.
class Kcheck < Formula
  desc "Check whether a Mac's kernel cache matches the kexts installed on disk"
  homepage "https://github.com/OWNER/kcheck"
  url "https://github.com/OWNER/kcheck/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  head "https://github.com/OWNER/kcheck.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    (man1/"kcheck.1").write Utils.safe_popen_read(bin/"kcheck", "man")
    generate_completions_from_executable(bin/"kcheck", "completions", shells: [:bash, :zsh, :fish])
    pkgshare.install "scripts/kcheck-extension-attribute.sh",
                     "scripts/munki-kcheck-preflight.sh",
                     "scripts/kcheck-preflight.sh",
                     "scripts/kcheck-recovery.sh",
                     "scripts/com.kcheck.verify.plist"
    pkgshare.install "docs/schema"
  end

  def caveats
    <<~EOS
      The MDM scripts, the LaunchDaemon and the JSON Schemas are in
        #{opt_pkgshare}
      The LaunchDaemon runs /usr/local/bin/kcheck; on Apple silicon, where
      Homebrew installs into /opt/homebrew, link or copy the binary there
      (see docs/mdm.md).
    EOS
  end

  test do
    assert_match(/^kcheck \d+\.\d+\.\d+/, shell_output("#{bin}/kcheck --version"))

    # A tiny system root: macOS 10.14.6 with no kernel cache at all. verify
    # must read it, call it broken (KC001: boot cache missing) and exit 2.
    (testpath/"root/System/Library/CoreServices").mkpath
    (testpath/"root/System/Library/CoreServices/SystemVersion.plist").write <<~XML
      <?xml version="1.0" encoding="UTF-8"?>
      <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
      <plist version="1.0">
      <dict>
        <key>ProductName</key>
        <string>Mac OS X</string>
        <key>ProductVersion</key>
        <string>10.14.6</string>
        <key>ProductBuildVersion</key>
        <string>18G103</string>
      </dict>
      </plist>
    XML
    output = shell_output("#{bin}/kcheck verify --root #{testpath}/root --format jsonl", 2)
    assert_match '"code":"KC001"', output
    assert_match '"record":"run"', output
    assert_match '"verdict":"broken"', output

    # Not a system root at all: exit 66 (input missing).
    shell_output("#{bin}/kcheck verify --root #{testpath}", 66)
  end
end
