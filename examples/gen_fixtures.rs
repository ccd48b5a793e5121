//! Regenerate the committed fixtures: `cargo run --example gen_fixtures [DIR]`
//! (default `testdata`). Every file is synthesised by `kcheck_testkit::synth`.
//!
//! `cargo run --release --example gen_fixtures -- --scale N [--code BYTES] DIR`
//! writes realistic-size caches with N kexts instead, and
//! `--scale-root N [--code BYTES] DIR` a 10.15 system root with N kexts in
//! /System/Library/Extensions and N/10 in /Library/Extensions (as
//! `DIR/root`), and `--scale-root-11 N [--code BYTES] DIR` an Intel
//! macOS 11 root with N + N/10 kexts in raw boot, system and auxiliary
//! kernel collections (default 340 KiB of code a kext: 209 MB of boot +
//! system collections at N = 600); none is committed: use a directory
//! under `target/`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: gen_fixtures [DIR]                         rewrite the committed fixtures (default testdata)\n       \
             gen_fixtures --scale N [--code BYTES] DIR   realistic-size caches with N kexts\n       \
             gen_fixtures --scale-root N [--code BYTES] DIR   a 10.15 root with N + N/10 kexts (DIR/root)\n       \
             gen_fixtures --scale-root-11 N [--code BYTES] DIR   an Intel 11 root with N + N/10 kexts in kernel collections (DIR/root)"
        );
        return Ok(());
    }
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let dir = std::path::PathBuf::from(positional.first().map(|s| s.as_str()).unwrap_or("testdata"));
    if let Some(n) = value("--scale-root-11") {
        let n: usize = n.parse().expect("--scale-root-11 takes a number of kexts");
        let code: usize =
            value("--code").map_or(kcheck_testkit::roots::SCALED_11_CODE, |c| c.parse().expect("--code takes bytes"));
        kcheck_testkit::roots::write_scaled_root_11(&dir, n, code)?;
        for rel in [
            "System/Library/KernelCollections/BootKernelExtensions.kc",
            "System/Library/KernelCollections/SystemKernelExtensions.kc",
            "Library/KernelCollections/AuxiliaryKernelExtensions.kc",
        ] {
            let p = dir.join("root").join(rel);
            println!("{:>11}  {}", std::fs::metadata(&p)?.len(), p.display());
        }
        println!("{}", dir.join("root").display());
        return Ok(());
    }
    if let Some(n) = value("--scale-root") {
        let n: usize = n.parse().expect("--scale-root takes a number of kexts");
        let code: usize = value("--code").map_or(100 * 1024, |c| c.parse().expect("--code takes bytes"));
        kcheck_testkit::roots::write_scaled_root(&dir, n, code)?;
        println!("{}", dir.join("root").display());
        return Ok(());
    }
    let written = if let Some(n) = value("--scale") {
        let n: usize = n.parse().expect("--scale takes a number of kexts");
        let code: usize = value("--code").map_or(100 * 1024, |c| c.parse().expect("--code takes bytes"));
        std::fs::create_dir_all(&dir)?;
        let mut out = Vec::new();
        for (name, bytes) in kcheck_testkit::synth::scaled_fixtures(n, code) {
            let p = dir.join(name);
            std::fs::write(&p, bytes)?;
            out.push(p);
        }
        out
    } else {
        kcheck_testkit::synth::write_fixtures(&dir)?
    };
    for p in written {
        let len = std::fs::metadata(&p)?.len();
        println!("{len:>11}  {}", p.display());
    }
    Ok(())
}
