//! The command line: clap definitions (raw, validated only) and their
//! dispatch. Nothing outside this module sees clap.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::zones::Thresholds;
use crate::error::Error;
use crate::facts::VerifyOptions;
use crate::report::{self, Format, Style};
use crate::system::Sip;

const AFTER_HELP: &str = "\
Examples:
  sudo kcheck verify                                # check this Mac
  kcheck verify --root \"/Volumes/Macintosh HD\" -q   # one line: verdict, counts
  kcheck diff /System/Library/PrelinkedKernels/prelinkedkernel \\
      /Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel
  kcheck man > kcheck.1 && man ./kcheck.1
  kcheck completions zsh > \"$(brew --prefix)/share/zsh/site-functions/_kcheck\"

Colour: with --color auto (the default) the verdict, severities, finding codes
and diff markers are coloured when standard output is a terminal and NO_COLOR
is unset or empty; --color always colours even when NO_COLOR is set (an
explicit flag wins, as no-color.org asks); --color never does not colour.
JSON is never coloured.

Exit status: 0 healthy / identical, 1 attention / caches differ, 2 broken,
64 usage error, 65 malformed input, 66 input missing, 74 I/O error, 70 bug.";

/// Exit statuses, for the man page: the same codes as AFTER_HELP and
/// design.md, in words.
const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "Healthy: no warning or error (verify, zones, panic, loaded); the caches hold the same kexts (diff); \
         success (info, kexts, man, completions).",
    ),
    ("1", "Attention: warnings but no error (verify, zones, panic, loaded); the caches differ (diff)."),
    ("2", "Broken: at least one error finding (verify, zones, panic, loaded)."),
    ("64", "Usage error: bad arguments, or an option the command or platform does not support (EX_USAGE)."),
    ("65", "Malformed input: a file is truncated, corrupt, or not what the command reads (EX_DATAERR)."),
    ("66", "Input missing: a file does not exist, or a root is not a macOS system (EX_NOINPUT)."),
    ("70", "Internal error: a bug in kcheck; please report it (EX_SOFTWARE)."),
    ("74", "I/O error: reading input or writing output failed (EX_IOERR)."),
];

/// Examples for the man page's EXAMPLES section: (what, command line).
const MAN_EXAMPLES: &[(&str, &str)] = &[
    ("Check this Mac before a reboot:", "sudo kcheck verify"),
    ("Check this Mac, including what is running now (macOS only):", "sudo kcheck verify --live"),
    (
        "Check the Mac's disk from Recovery, for a script (one line, exit status 0, 1 or 2):",
        "kcheck verify --root \"/Volumes/Macintosh HD\" --sip enabled --quiet",
    ),
    ("The same as JSON, for a fleet inventory:", "kcheck verify --root \"/Volumes/Macintosh HD\" --json"),
    ("List the kexts linked into the boot cache:", "kcheck kexts /System/Library/PrelinkedKernels/prelinkedkernel"),
    (
        "What changes when the staged cache is installed:",
        "kcheck diff /System/Library/PrelinkedKernels/prelinkedkernel \\\n    \
         /Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel",
    ),
    ("Look for a zone leak:", "sudo zprint | kcheck zones -"),
    ("Read the newest panic reports:", "kcheck panic --root /"),
    ("Compare the loaded kexts with the caches and the disk:", "kextstat | kcheck loaded -"),
    ("Install this page:", "kcheck man > /usr/local/share/man/man1/kcheck.1"),
    (
        "Install zsh completions (Homebrew):",
        "kcheck completions zsh > \"$(brew --prefix)/share/zsh/site-functions/_kcheck\"",
    ),
];

/// The DESCRIPTION of the man page (paragraphs split by blank lines).
const MAN_DESCRIPTION: &str = "\
kcheck is a read-only tool for Mac administrators, support engineers and kext developers. It opens the \
kernel caches macOS boots from (the prelinkedkernel of macOS 10.15 and earlier, the IM4P kernelcaches of \
iOS and Apple silicon, the kernel collections of macOS 11 and later) and tells you which kexts, at which \
versions and builds, are linked into them, so that you can answer before a reboot: will the next boot run \
what I think is installed?

kcheck verify puts it together: it reads the system's release, its boot cache, the staged cache and the \
deferred install of macOS 10.15, the kernel collections of macOS 11 and later, and every kext installed \
on disk, and says in plain words (or JSON) whether the next boot will run what is installed, and what to \
do if not. The other commands read one piece of evidence each: a kernel cache (info, kexts, diff), zprint \
output (zones), panic reports (panic) and kextstat or kmutil showloaded listings (loaded).

Text output is for people. JSON output (--json) is for scripts: its fields keep their names and meaning, \
and finding codes such as ST003 or KC001 never change meaning. kcheck never writes to the volumes it reads.";

/// kcheck: will the next boot run the kexts you think are installed?
#[derive(Debug, Parser)]
#[command(name = "kcheck", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// When to colour text output: auto (standard output is a terminal and
    /// NO_COLOR is unset or empty), always (even with NO_COLOR set), never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto, global = true)]
    pub color: ColorArg,
    /// Print only what a script needs: verify prints its verdict line (e.g.
    /// `broken: 1 error, 2 warnings`), other commands print nothing. Exit
    /// status unchanged; errors still go to standard error. No effect on
    /// JSON (--json, --format json or jsonl).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour when standard output is a terminal and NO_COLOR is unset or empty.
    Auto,
    /// Always colour, even when NO_COLOR is set.
    Always,
    /// Never colour.
    Never,
}

impl ColorArg {
    /// Whether to colour, given whether standard output is a terminal and
    /// the value of `NO_COLOR` (no-color.org: any non-empty value disables
    /// colour; an explicit `--color always` overrides it).
    pub fn enabled(self, stdout_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => stdout_is_terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// Output format options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, global = true)]
    pub format: FormatArg,
    /// Short for --format json.
    #[arg(long, global = true)]
    pub json: bool,
}

impl OutputArgs {
    fn format(&self) -> Result<Format, Error> {
        match (self.json, self.format) {
            (true, _) | (false, FormatArg::Json) => Ok(Format::Json),
            (false, FormatArg::Text) => Ok(Format::Text),
            (false, FormatArg::Jsonl) => Err(Error::Unsupported("--format jsonl is only for verify".into())),
        }
    }

    fn verify_format(&self) -> report::VerifyFormat {
        match (self.json, self.format) {
            (true, _) | (false, FormatArg::Json) => report::VerifyFormat::Json,
            (false, FormatArg::Jsonl) => report::VerifyFormat::Jsonl,
            (false, FormatArg::Text) => report::VerifyFormat::Text,
        }
    }
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Aligned text for people.
    Text,
    /// JSON for scripts.
    Json,
    /// JSON Lines (verify only), for log shippers: one record per finding, then a run record (verdict, counts, not_checked).
    Jsonl,
}

/// `--sip` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SipArg {
    /// System Integrity Protection is on.
    Enabled,
    /// System Integrity Protection is off.
    Disabled,
    /// Not known (the default): treated as enabled, the platform default.
    Unknown,
}

/// Options for reading one cache.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// FAT slice to read (x86_64, x86_64h, arm64, arm64e, …); default: x86_64,
    /// then arm64e, then arm64, then the first slice.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
}

/// The subcommands.
// Fields are documented by their `--help` text, flattened option groups
// by their own types.
#[allow(missing_docs)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Will the next boot run the kexts that are installed? Compares the
    /// boot kernel cache with the staged cache, the deferred install, the
    /// kernel and the kexts on disk, and reports findings with remedies.
    /// Exit status 0 healthy, 1 attention, 2 broken.
    #[command(
        after_help = "Examples:\n  sudo kcheck verify\n  kcheck verify --root \"/Volumes/Macintosh HD\" --sip enabled      # from Recovery\n  kcheck verify --root \"/Volumes/Macintosh HD\" --data-root \"/Volumes/Macintosh HD - Data\" --json"
    )]
    Verify {
        /// The system volume to check.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The data volume (default: `<root> - Data` when it exists, as in
        /// Recovery, else the root itself).
        #[arg(long, value_name = "DIR")]
        data_root: Option<PathBuf>,
        /// The Preboot volume (Apple silicon, macOS 11+), where the boot
        /// kernel collection lives. Default: `<root>/System/Volumes/Preboot`
        /// when it exists; in recoveryOS give the mounted Preboot volume.
        #[arg(long, value_name = "DIR")]
        preboot: Option<PathBuf>,
        /// System Integrity Protection state (`csrutil status`); with --live it
        /// is read from `csrutil status` unless given here.
        #[arg(long, value_enum, default_value_t = SipArg::Unknown)]
        sip: SipArg,
        /// Also probe the running Mac (macOS only): running kernel and cache
        /// (`sysctl`), boot time vs `shove_kernels` (ST006), SIP, loaded
        /// kexts, the newest panic reports and, as root, a zone sample.
        #[arg(long)]
        live: bool,
        /// Replay recorded probe outputs from DIR instead of running them
        /// (for tests and for examining a Mac's state elsewhere).
        #[arg(long, value_name = "DIR", hide = true, requires = "live")]
        probe_dir: Option<PathBuf>,
        /// Also write the report into the SQLite database FILE (created if
        /// needed; this host's rows replaced in one transaction) for
        /// osquery's automatic table construction; see docs/fleet.md.
        #[arg(long, value_name = "FILE")]
        sqlite: Option<PathBuf>,
        /// The host name the --sqlite rows are stored under (default: this
        /// machine's host name).
        #[arg(long, value_name = "NAME", requires = "sqlite")]
        host: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Container layers, kernel version and UUID, kext count and sizes of a
    /// kernel cache (or of any Mach-O, e.g. a kext executable).
    #[command(
        after_help = "Example:\n  kcheck info /System/Library/PrelinkedKernels/prelinkedkernel\n  kcheck info --json /System/Library/KernelCollections/BootKernelExtensions.kc"
    )]
    Info {
        /// The file: prelinkedkernel, kernelcache (IM4P), kernel collection, or any Mach-O.
        file: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Every kext linked into a kernel cache: bundle id, version, UUID, load
    /// address, size, bundle path.
    #[command(
        after_help = "Example:\n  kcheck kexts /System/Library/KernelCollections/BootKernelExtensions.kc\n  kcheck kexts --json /System/Library/PrelinkedKernels/prelinkedkernel"
    )]
    Kexts {
        /// The kernel cache.
        file: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Kexts added, removed, or changed (version or UUID) from cache A to
    /// cache B. Exit status 0 when identical, 1 when they differ.
    #[command(
        after_help = "Example:\n  kcheck diff /System/Library/PrelinkedKernels/prelinkedkernel \\\n      /Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel"
    )]
    Diff {
        /// The first (older, or booted) cache.
        a: PathBuf,
        /// The second (newer, or staged) cache.
        b: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Kernel zone usage from `zprint` output (a FILE, `-` for standard input,
    /// or run live on macOS): a kalloc zone holding an outsized share of
    /// memory (ZN001); with --watch, zones that grow sample after sample
    /// (ZN002), shown live while it runs.
    #[command(
        after_help = "Examples:\n  sudo zprint | kcheck zones -\n  kcheck zones saved-zprint.txt --json\n  sudo kcheck zones --watch --interval 60 --samples 30"
    )]
    Zones {
        /// A saved `zprint` output, or `-` for standard input; none: run zprint (macOS, as root).
        file: Option<PathBuf>,
        /// Sample the live `zprint` repeatedly and report zones that keep growing.
        #[arg(long)]
        watch: bool,
        /// Seconds between samples with --watch.
        #[arg(long, value_name = "S", default_value_t = 10.0)]
        interval: f64,
        /// Number of samples with --watch.
        #[arg(long, value_name = "N", default_value_t = 12)]
        samples: usize,
        /// Zones shown in the text table.
        #[arg(long, value_name = "N", default_value_t = 15)]
        top: usize,
        /// ZN001 warning: a kalloc zone's share of all zone memory (0-1).
        #[arg(long, value_name = "SHARE", default_value_t = 0.10)]
        share_warn: f64,
        /// ZN001 error: a kalloc zone's share of all zone memory (0-1).
        #[arg(long, value_name = "SHARE", default_value_t = 0.25)]
        share_error: f64,
        /// ZN001 error: elements in use in one kalloc zone.
        #[arg(long, value_name = "N", default_value_t = 10_000_000)]
        elements_error: u64,
        /// ZN001 ignores zones smaller than this many MiB.
        #[arg(long, value_name = "MIB", default_value_t = 64)]
        min_mib: u64,
        /// The macOS build the sample comes from (ties it to known issues,
        /// e.g. 19G73); default: read from --root when that is a macOS system.
        #[arg(long, value_name = "BUILD")]
        build: Option<String>,
        /// The system root whose build to use.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Panic reports: format, date, build, kernel, panic class, leaking zone,
    /// process, kexts in the backtrace (third-party flagged), last loaded
    /// kext; zone-map exhaustion (PN001), third-party kexts in the backtrace
    /// (PN002), reports from another build (PN003).
    #[command(
        after_help = "Examples:\n  kcheck panic /Library/Logs/DiagnosticReports/Kernel-2020-08-12-101010.panic\n  kcheck panic --root \"/Volumes/Macintosh HD\"     # the newest reports of that system\n  kcheck panic --json *.panic *.ips"
    )]
    Panic {
        /// Panic report files (.panic, .ips, or plain text); none: the
        /// DiagnosticReports folder of --root.
        files: Vec<PathBuf>,
        /// The system root: its build tells current reports from history,
        /// and without FILEs its `/Library/Logs/DiagnosticReports` is read.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The data volume (default: `<root> - Data` when it exists, else the root).
        #[arg(long, value_name = "DIR")]
        data_root: Option<PathBuf>,
        /// How many of the newest reports to read from the folder.
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The kexts loaded now (`kextstat` / `kmutil showloaded` output, from a
    /// FILE, `-` for standard input, or run live on macOS), compared with
    /// the boot cache and the kexts on disk of --root: loaded but not in the
    /// cache (LD001), loaded version differs from disk (LD002).
    #[command(
        after_help = "Examples:\n  kcheck loaded                       # on a Mac: runs kextstat or kmutil showloaded\n  kextstat | kcheck loaded -\n  kcheck loaded --root \"/Volumes/Macintosh HD\" saved-kextstat.txt --json"
    )]
    Loaded {
        /// A saved listing, or `-` for standard input; none: run it live (macOS).
        file: Option<PathBuf>,
        /// The system root whose caches and kexts to compare with.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The data volume (default: `<root> - Data` when it exists, else the root).
        #[arg(long, value_name = "DIR")]
        data_root: Option<PathBuf>,
        /// List every loaded kext, not only the third-party ones.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print kcheck's manual page (roff, section 1) on standard output: every
    /// command and option, exit status, environment, examples.
    #[command(
        after_help = "Examples:\n  man -l <(kcheck man)                  # read it now (Linux man-db)\n  kcheck man > kcheck.1 && man ./kcheck.1\n  kcheck man > /usr/local/share/man/man1/kcheck.1       # then: man kcheck"
    )]
    Man,
    /// Print a shell completion script on standard output.
    #[command(
        after_help = "Examples:\n  kcheck completions zsh > \"$(brew --prefix)/share/zsh/site-functions/_kcheck\"\n  kcheck completions bash > ~/.local/share/bash-completion/completions/kcheck\n  kcheck completions fish > ~/.config/fish/completions/kcheck.fish\n  source <(kcheck completions bash)     # this shell only"
    )]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The output options of a command that renders a report.
    fn output(&self) -> Option<&OutputArgs> {
        match self {
            Command::Verify { output, .. }
            | Command::Info { output, .. }
            | Command::Kexts { output, .. }
            | Command::Diff { output, .. }
            | Command::Zones { output, .. }
            | Command::Panic { output, .. }
            | Command::Loaded { output, .. } => Some(output),
            Command::Man | Command::Completions { .. } => None,
        }
    }
}

/// Write the manual page: one page, `kcheck(1)`, built from the clap
/// definitions — the top-level synopsis and options, then one section per
/// command (its description, synopsis, options and examples), then EXIT
/// STATUS, ENVIRONMENT and EXAMPLES.
pub fn write_man(dest: &mut dyn Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    use roff::{Roff, bold, roman};

    // Rendered into a buffer: each clap_mangen/roff piece starts with the
    // same two-line preamble (the `Aq` string), which the page needs once,
    // after `.TH`, so that it starts with `.TH`.
    let mut page = Vec::new();
    let out = &mut page;
    let mut cmd = Cli::command()
        .about("will the next boot run the kexts you think are installed?")
        .long_about(MAN_DESCRIPTION)
        .disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone()).title("KCHECK").manual("kcheck manual");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;

    let globals: Vec<clap::Id> =
        cmd.get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().clone()).collect();
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in &subs {
        roff.control("TP", []);
        roff.text([bold(format!("kcheck {}", sub.get_name()))]);
        roff.text([roman(sentence(sub.get_about()))]);
    }
    roff.to_writer(out)?;

    for sub in subs {
        // The sub-page's own sections become subsections of ours; the
        // global options (--color, --quiet, --help) are listed once, above.
        let mut sub = sub.clone().about(sentence(sub.get_about()));
        for id in globals.iter().chain(std::iter::once(&clap::Id::from("help"))) {
            if sub.get_arguments().any(|a| a.get_id() == id) {
                sub = sub.mut_arg(id.clone(), |a| a.hide(true));
            }
        }
        let mut roff = Roff::new();
        roff.control("SH", [format!("KCHECK {}", sub.get_name().to_uppercase()).as_str()]);
        roff.to_writer(out)?;
        let page = clap_mangen::Man::new(sub.clone());
        let mut body = Vec::new();
        page.render_description_section(&mut body)?;
        page.render_synopsis_section(&mut body)?;
        page.render_options_section(&mut body)?;
        let body = String::from_utf8_lossy(&body);
        for line in body.lines() {
            // `.SH DESCRIPTION` is redundant under the command's heading.
            match line.strip_prefix(".SH ") {
                Some("DESCRIPTION") => {}
                Some(title) => writeln!(out, ".SS {title}")?,
                None => writeln!(out, "{line}")?,
            }
        }
        if let Some(after) = sub.get_after_help() {
            let mut roff = Roff::new();
            let text = after.to_string();
            let mut lines = text.lines();
            lines.next(); // "Example:" or "Examples:"
            roff.control("SS", ["EXAMPLES"]);
            roff.control("RS", ["4"]);
            roff.control("nf", []);
            for line in lines {
                roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
            }
            roff.control("fi", []);
            roff.control("RE", []);
            roff.to_writer(out)?;
        }
    }

    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in EXIT_STATUS {
        roff.control("TP", []);
        roff.text([bold(*code)]);
        roff.text([roman(*what)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", []);
    roff.text([bold("NO_COLOR")]);
    roff.text([roman(
        "When set to a non-empty value, text output is not coloured under --color auto (the default). \
         --color always overrides it (https://no-color.org).",
    )]);
    roff.control("SH", ["EXAMPLES"]);
    for (what, example) in MAN_EXAMPLES {
        roff.control("PP", []);
        roff.text([roman(*what)]);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        for line in example.split("\n") {
            roff.text([bold(line)]);
        }
        roff.control("fi", []);
        roff.control("RE", []);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman("kextcache(8), kmutil(8), kextstat(8), zprint(1), csrutil(8)")]);
    roff.to_writer(out)?;

    let preamble = Roff::new().render();
    let page = String::from_utf8_lossy(&page).replace(&preamble, "");
    let (title, rest) = page.split_once('\n').unwrap_or((&page, ""));
    // roff input is ASCII: any other character (the `…` of a help text) as
    // a `\[uXXXX]` escape, which groff without preconv (as older macOS man
    // runs it) and mandoc both read.
    let rest: String =
        rest.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("\\[u{:04X}]", u32::from(c)) }).collect();
    write!(dest, "{title}\n{preamble}{rest}")
}

/// A one-paragraph help text as a sentence: with its final full stop,
/// which clap drops.
fn sentence(text: Option<&clap::builder::StyledStr>) -> String {
    let text = text.map(|t| t.to_string()).unwrap_or_default();
    if text.ends_with(['.', '?', '!']) { text } else { format!("{text}.") }
}

/// Run a parsed command line, writing to `out`. Returns the exit status.
///
/// `out` is meant to be the process's standard output: `--color auto`
/// looks at whether that is a terminal.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<u8, Error> {
    use std::io::IsTerminal;
    let Cli { color, quiet, command } = cli;
    let no_color = std::env::var_os("NO_COLOR");
    let style = Style { color: color.enabled(std::io::stdout().is_terminal(), no_color.as_deref()) };
    // --quiet applies to text output only; verify then prints its verdict
    // line, every other report goes to a sink.
    let quiet = quiet && command.output().is_some_and(|o| o.verify_format() == report::VerifyFormat::Text);
    let mut sink = std::io::sink();
    let out: &mut dyn Write = if quiet && !matches!(command, Command::Verify { .. }) { &mut sink } else { out };
    // Every byte of output passes a filter that escapes control characters
    // from the input (kcheck's own colour, and the live view's screen
    // clearing, excepted).
    let live_view = matches!(command, Command::Zones { watch: true, .. });
    let mut clean = crate::report::sanitize::Sanitizer::new(out, style.color, live_view);
    let code = dispatch(command, style, quiet, &mut clean)?;
    clean.into_inner().map_err(Error::Output)?;
    Ok(code)
}

fn dispatch(command: Command, style: Style, quiet: bool, out: &mut dyn Write) -> Result<u8, Error> {
    use crate::app;
    match command {
        Command::Man => {
            write_man(out).map_err(Error::Output)?;
            Ok(0)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kcheck", out);
            Ok(0)
        }
        Command::Verify { root, data_root, preboot, sip, live, probe_dir, sqlite, host, output } => {
            let sip = match sip {
                SipArg::Enabled => Sip::Enabled,
                SipArg::Disabled => Sip::Disabled,
                SipArg::Unknown => Sip::Unknown,
            };
            let live = match (live, probe_dir) {
                (false, _) => app::verify::LiveSource::None,
                (true, Some(dir)) => app::verify::LiveSource::Recorded(dir),
                (true, None) => app::verify::LiveSource::System,
            };
            let cmd = app::verify::VerifyCommand {
                options: VerifyOptions { root, data_root, sip, preboot },
                live,
                sqlite,
                host,
                format: output.verify_format(),
                quiet,
            };
            app::verify::run(&cmd, style, out)
        }
        Command::Info { file, cache, output } => app::info(&file, cache.arch, output.format()?, out),
        Command::Kexts { file, cache, output } => app::kexts(&file, cache.arch, output.format()?, out),
        Command::Diff { a, b, cache, output } => app::diff(&a, &b, cache.arch, output.format()?, style, out),
        Command::Zones {
            file,
            watch,
            interval,
            samples,
            top,
            share_warn,
            share_error,
            elements_error,
            min_mib,
            build,
            root,
            output,
        } => {
            let thresholds = Thresholds {
                share_warn,
                share_error,
                elements_error,
                min_bytes: min_mib.saturating_mul(1 << 20),
                ..Thresholds::default()
            };
            let format = output.format()?;
            if watch {
                if file.is_some() {
                    return Err(Error::Unsupported("--watch samples the live zprint; it takes no FILE".into()));
                }
                return app::zones::run_watch(interval, samples, &thresholds, format, style, quiet, out);
            }
            let build = build.or_else(|| app::build_of(&root));
            app::zones(&app::ZonesOptions { file, thresholds, build, top }, format, style, out)
        }
        Command::Panic { files, root, data_root, limit, output } => {
            app::panic(&app::PanicOptions { files, root, data_root, limit }, output.format()?, style, out)
        }
        Command::Loaded { file, root, data_root, all, output } => {
            app::loaded(&app::LoadedOptions { file, root, data_root, all }, output.format()?, style, out)
        }
    }
}
