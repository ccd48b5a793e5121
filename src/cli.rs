//! The command line: clap definitions (raw, validated only) and their
//! dispatch. Nothing outside this module sees clap.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cache::{self, OpenOptions};
use crate::error::Error;
use crate::report::{self, Format};

const AFTER_HELP: &str = "\
Exit status: 0 healthy / identical, 1 attention / caches differ, 2 broken,
64 usage error, 65 malformed input, 66 input missing, 74 I/O error, 70 bug.";

/// kcheck: will the next boot run the kexts you think are installed?
#[derive(Debug, Parser)]
#[command(name = "kcheck", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
            (false, FormatArg::Jsonl) => Err(Error::Unsupported(
                "--format jsonl is only for verify".into(),
            )),
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
    /// One JSON finding per line (verify only), for log shippers.
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
        /// System Integrity Protection state (`csrutil status`).
        #[arg(long, value_enum, default_value_t = SipArg::Unknown)]
        sip: SipArg,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Container layers, kernel version and UUID, kext count and sizes of a
    /// kernel cache (or of any Mach-O, e.g. a kext executable).
    #[command(
        after_help = "Example:\n  kcheck info testdata/caches/plk-fat-lzvn.kc\n  kcheck info --json /System/Library/KernelCollections/BootKernelExtensions.kc"
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
        after_help = "Example:\n  kcheck kexts testdata/caches/plk-fat-lzvn.kc\n  kcheck kexts --json /System/Library/PrelinkedKernels/prelinkedkernel"
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
}

/// Run a parsed command line, writing to `out`. Returns the exit status.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<u8, Error> {
    match cli.command {
        Command::Verify {
            root,
            data_root,
            sip,
            output,
        } => {
            let sip = match sip {
                SipArg::Enabled => crate::verify::Sip::Enabled,
                SipArg::Disabled => crate::verify::Sip::Disabled,
                SipArg::Unknown => crate::verify::Sip::Unknown,
            };
            let opts = crate::verify::VerifyOptions {
                root,
                data_root,
                sip,
            };
            let report = crate::verify::verify(&opts)?;
            report::verify(out, &report, output.verify_format()).map_err(Error::Output)?;
            Ok(report.verdict.exit_code())
        }
        Command::Info {
            file,
            cache,
            output,
        } => {
            let opts = OpenOptions {
                arch: cache.arch,
                hash: true,
            };
            let info = cache::open(&file, &opts)?;
            report::info(out, &info, output.format()?).map_err(Error::Output)?;
            Ok(0)
        }
        Command::Kexts {
            file,
            cache,
            output,
        } => {
            let opts = OpenOptions {
                arch: cache.arch,
                hash: false,
            };
            let info = cache::open(&file, &opts)?;
            if info.kind == cache::CacheKind::MachO {
                return Err(Error::format(
                    &file,
                    crate::error::FormatError::new(
                        info.layers.join(" > "),
                        0,
                        "not a kernel cache: no __PRELINK_INFO and not a kernel collection (try kcheck info)",
                    ),
                ));
            }
            report::kexts(out, &info, output.format()?).map_err(Error::Output)?;
            Ok(0)
        }
        Command::Diff {
            a,
            b,
            cache,
            output,
        } => {
            let opts = OpenOptions {
                arch: cache.arch,
                hash: false,
            };
            let ca = cache::open(&a, &opts)?;
            let cb = cache::open(&b, &opts)?;
            let d = crate::diff::diff(&ca, &cb);
            report::diff(out, &ca, &cb, &d, output.format()?).map_err(Error::Output)?;
            Ok(if d.is_empty() { 0 } else { 1 })
        }
    }
}
