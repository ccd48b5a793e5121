//! The one-way layers of src/lib.rs, enforced: no module imports from a
//! layer above its own (test modules excepted). Each edge `a -> b` found
//! in the code is printed, so `cargo test layers -- --nocapture` shows the
//! module graph.

use std::collections::BTreeSet;
use std::path::Path;

/// The layers, bottom first; a module may use its own layer and those below.
const LAYERS: &[&[&str]] = &[
    &["error", "bytes", "input", "bounded_plist", "kext_version"],
    &["compress"],
    &["container"],
    &["macho", "prelink"],
    &["cache"],
    &["system"],
    &["logs"],
    &["facts"],
    &["check"],
    &["report"],
    &["app"],
    &["cli"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges = BTreeSet::new();
    let mut upward = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel.ends_with("tests.rs") || rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        // Test modules (at the end of a file) may use anything.
        let code = text.split("\n#[cfg(test)]\nmod ").next().unwrap();
        // Comments may point anywhere (intra-doc links); code may not.
        let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + 7..];
            let used: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if used == module || used.is_empty() {
                continue;
            }
            let (Some(a), Some(b)) = (rank(&module), rank(&used)) else {
                upward.push(format!("{rel}: unknown module {used} (add it to LAYERS)"));
                continue;
            };
            edges.insert(format!("{module} -> {used}"));
            if b > a {
                upward.push(format!("{rel}: {module} (layer {a}) uses {used} (layer {b})"));
            }
        }
    }
    for e in &edges {
        println!("{e}");
    }
    assert!(rank("cli").is_some() && !edges.is_empty());
    assert!(upward.is_empty(), "imports pointing up:\n{}", upward.join("\n"));
}
