//! One short function per command: read the inputs, run the rules, render.
//! The command line (clap) stays in `cli`; these take plain options and a
//! writer, and return the exit status.
//!
//! Layer: the top of the library. Imports every layer below.

pub mod verify;
pub mod zones;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::cache::{self, OpenOptions};
use crate::check::finding::Verdict;
use crate::error::{Error, FormatError};
use crate::facts::Facts;
use crate::facts::live::{Probe, SystemProbe};
use crate::report::{self, Format, Style};
use crate::system::{Sip, SystemRoot, Vol};

/// Text inputs (logs, listings) larger than this are refused.
pub const MAX_TEXT_INPUT: u64 = 256 << 20;

/// Read a text input: a file, or standard input for `-`. The length is
/// checked before the bytes are kept: at most [`MAX_TEXT_INPUT`] + 1 bytes
/// are ever read.
pub fn read_text(path: &Path) -> Result<String, Error> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().take(MAX_TEXT_INPUT + 1).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    } else {
        // Regular files only, opened without blocking: a FIFO or a device
        // must not hang kcheck or feed it endless bytes.
        bytes = crate::input::read_regular(path, MAX_TEXT_INPUT).map_err(|e| match e {
            crate::input::InputError::Io(e) => Error::io(path, e),
            crate::input::InputError::TooLarge { .. } => Error::format(
                path,
                FormatError::new("file", MAX_TEXT_INPUT, "larger than any log kcheck reads (256 MiB)"),
            ),
            other @ crate::input::InputError::NotRegular(_) => {
                Error::format(path, FormatError::new("file", 0, other.to_string()))
            }
        })?;
    }
    if bytes.len() as u64 > MAX_TEXT_INPUT {
        return Err(Error::format(
            path,
            FormatError::new("file", MAX_TEXT_INPUT, "larger than any log kcheck reads (256 MiB)"),
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The error for a live-only command that reads a saved output instead
/// (zones, loaded) asked for off macOS.
pub fn live_only(what: &str) -> Error {
    Error::Unsupported(format!(
        "{what} reads the running kernel and works only on macOS; give a saved output as FILE (or - for standard input)"
    ))
}

/// The error for `verify --live` off macOS: verify takes no FILE, so point
/// at `--root` instead.
pub fn verify_live_only() -> Error {
    Error::Unsupported(
        "verify --live probes the running Mac and works only on macOS; without --live, verify reads the volume \
         given with --root"
            .into(),
    )
}

fn json_out(out: &mut dyn Write, v: &serde_json::Value) -> Result<(), Error> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(|e| Error::Output(std::io::Error::other(e)))?;
    writeln!(out).map_err(Error::Output)
}

/// `kcheck info FILE`.
pub fn info(file: &Path, arch: Option<String>, format: Format, out: &mut dyn Write) -> Result<u8, Error> {
    let info = cache::open(file, &OpenOptions { arch, hash: true })?;
    report::info(out, &info, format).map_err(Error::Output)?;
    Ok(0)
}

/// `kcheck kexts FILE`.
pub fn kexts(file: &Path, arch: Option<String>, format: Format, out: &mut dyn Write) -> Result<u8, Error> {
    let info = cache::open(file, &OpenOptions { arch, hash: false })?;
    if info.kind == cache::CacheKind::MachO {
        return Err(Error::format(
            file,
            FormatError::new(
                info.layers.join(" > "),
                0,
                "not a kernel cache: no __PRELINK_INFO and not a kernel collection (try kcheck info)",
            ),
        ));
    }
    report::kexts(out, &info, format).map_err(Error::Output)?;
    Ok(0)
}

/// `kcheck diff A B`: exit 0 when the caches hold the same kexts, 1 when not.
pub fn diff(
    a: &Path,
    b: &Path,
    arch: Option<String>,
    format: Format,
    style: Style,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let opts = OpenOptions { arch, hash: false };
    // The two caches are opened at the same time (two decodes on two
    // cores); an error in A is reported before one in B, as before.
    let (ca, cb) = std::thread::scope(|s| {
        let other = s.spawn(|| cache::open(b, &opts));
        let ca = cache::open(a, &opts);
        (ca, other.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    let (ca, cb) = (ca?, cb?);
    let d = crate::cache::diff::diff(&ca, &cb);
    report::diff(out, style, &ca, &cb, &d, format).map_err(Error::Output)?;
    Ok(if d.is_empty() { 0 } else { 1 })
}

/// Options of `kcheck zones` on one sample.
#[derive(Clone, Debug)]
pub struct ZonesOptions {
    /// A saved zprint output (`-` for standard input); `None`: run zprint.
    pub file: Option<PathBuf>,
    /// ZN001 / ZN002 limits.
    pub thresholds: crate::check::zones::Thresholds,
    /// The build the sample comes from, if known.
    pub build: Option<String>,
    /// Zones shown in the text table.
    pub top: usize,
}

/// The build of `root`, when it is a macOS system.
pub fn build_of(root: &Path) -> Option<String> {
    SystemRoot::open(root, None).ok().map(|s| s.build)
}

/// `kcheck zones [FILE]`.
pub fn zones(opts: &ZonesOptions, format: Format, style: Style, out: &mut dyn Write) -> Result<u8, Error> {
    let (name, text) = match &opts.file {
        Some(f) => (f.clone(), read_text(f)?),
        None if cfg!(target_os = "macos") => {
            let text = SystemProbe.run("/usr/bin/zprint", &[]).map_err(Error::Unsupported)?;
            (PathBuf::from("zprint"), text)
        }
        None => return Err(live_only("kcheck zones without a FILE")),
    };
    let table = crate::logs::zprint::parse(&text).map_err(|e| Error::format(&name, e))?;
    let findings = crate::check::zones::sample_findings(&table, &opts.thresholds, opts.build.as_deref());
    match format {
        Format::Json => json_out(out, &report::zones::to_json(&table, &findings))?,
        Format::Text => report::zones::write_text(out, style, &table, &findings, opts.top).map_err(Error::Output)?,
    }
    Ok(Verdict::of(&findings).exit_code())
}

/// Options of `kcheck panic`.
#[derive(Clone, Debug)]
pub struct PanicOptions {
    /// Report files; none: the newest reports of the root.
    pub files: Vec<PathBuf>,
    /// The system root (its build; its DiagnosticReports without files).
    pub root: PathBuf,
    /// The data volume, if not the default.
    pub data_root: Option<PathBuf>,
    /// How many of the newest reports to read from the folder.
    pub limit: usize,
}

/// `kcheck panic [FILE...]`.
pub fn panic(opts: &PanicOptions, format: Format, style: Style, out: &mut dyn Write) -> Result<u8, Error> {
    let explicit_root = opts.root != Path::new("/") || opts.data_root.is_some();
    let sys = match SystemRoot::open(&opts.root, opts.data_root.as_deref()) {
        Ok(s) => Some(s),
        Err(e) if explicit_root || opts.files.is_empty() => return Err(e),
        Err(_) => None,
    };
    let mut reports = Vec::new();
    let mut skipped = Vec::new();
    match &sys {
        Some(sys) if opts.files.is_empty() => {
            let dir = sys.join(Vol::Data, "/Library/Logs/DiagnosticReports");
            for path in crate::logs::panic::find_reports(&dir, opts.limit) {
                let parsed = read_text(&path).and_then(|t| {
                    crate::logs::panic::parse(&t, &path.display().to_string()).map_err(|e| Error::format(&path, e))
                });
                match parsed {
                    Ok(r) => reports.push(r),
                    Err(e) => skipped.push(e.to_string()),
                }
            }
        }
        _ => {
            for f in &opts.files {
                let text = read_text(f)?;
                reports
                    .push(crate::logs::panic::parse(&text, &f.display().to_string()).map_err(|e| Error::format(f, e))?);
            }
        }
    }
    let build = sys.as_ref().map(|s| s.build.clone());
    let findings = crate::check::panics::findings(&reports, build.as_deref());
    match format {
        Format::Json => {
            let mut v = report::panic::to_json(&reports, &findings);
            if !skipped.is_empty() {
                v["skipped"] = serde_json::json!(skipped);
            }
            json_out(out, &v)?;
        }
        Format::Text => {
            if reports.is_empty() && opts.files.is_empty() {
                writeln!(out, "No panic reports found.").map_err(Error::Output)?;
            }
            report::panic::write_text(out, style, &reports, &findings).map_err(Error::Output)?;
            for s in &skipped {
                writeln!(out, "skipped: {s}").map_err(Error::Output)?;
            }
        }
    }
    Ok(Verdict::of(&findings).exit_code())
}

/// The facts of `root` to compare live evidence with: `None` when the
/// default root `/` is not a macOS system (e.g. reading a saved listing on
/// Linux); an error when an explicitly given root is not one.
fn facts_for(root: &Path, data_root: Option<&Path>) -> Result<Option<Facts>, Error> {
    let default = root == Path::new("/") && data_root.is_none();
    let opts = crate::facts::VerifyOptions {
        root: root.to_path_buf(),
        data_root: data_root.map(Path::to_path_buf),
        sip: Sip::Unknown,
        preboot: None,
    };
    match crate::facts::gather(&opts) {
        Ok(f) => Ok(Some(f)),
        Err(Error::NotSystem { .. }) if default => Ok(None),
        Err(e) => Err(e),
    }
}

/// Options of `kcheck loaded`.
#[derive(Clone, Debug)]
pub struct LoadedOptions {
    /// A saved listing (`-` for standard input); `None`: run it live.
    pub file: Option<PathBuf>,
    /// The system root to compare with.
    pub root: PathBuf,
    /// The data volume, if not the default.
    pub data_root: Option<PathBuf>,
    /// List every loaded kext, not only third-party ones.
    pub all: bool,
}

/// `kcheck loaded [FILE]`.
pub fn loaded(opts: &LoadedOptions, format: Format, style: Style, out: &mut dyn Write) -> Result<u8, Error> {
    let (name, text) = match &opts.file {
        Some(f) => (f.clone(), read_text(f)?),
        None if cfg!(target_os = "macos") => {
            let kmutil = Path::new("/usr/bin/kmutil").exists();
            let text = if kmutil {
                SystemProbe.run("/usr/bin/kmutil", &["showloaded"])
            } else {
                SystemProbe.run("/usr/sbin/kextstat", &[])
            };
            (PathBuf::from(if kmutil { "kmutil showloaded" } else { "kextstat" }), text.map_err(Error::Unsupported)?)
        }
        None => return Err(live_only("kcheck loaded without a FILE")),
    };
    let rows = crate::logs::kextstat::parse(&text).map_err(|e| Error::format(&name, e))?;
    let findings = match facts_for(&opts.root, opts.data_root.as_deref())? {
        Some(facts) => crate::check::loaded::compare_with_system(&rows, &facts),
        None => Vec::new(),
    };
    match format {
        Format::Json => json_out(out, &report::loaded::to_json(&rows, &findings))?,
        Format::Text if opts.all => {
            report::loaded::write_text_all(out, style, &rows, &findings).map_err(Error::Output)?
        }
        Format::Text => report::loaded::write_text(out, style, &rows, &findings).map_err(Error::Output)?,
    }
    Ok(Verdict::of(&findings).exit_code())
}
