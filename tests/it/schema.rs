//! The JSON Schemas in `docs/schema/` (draft 2020-12): every JSON output
//! of `kcheck verify --json`, `verify --format jsonl` and `kexts --json`
//! for the committed fixtures (each root under `testdata/roots` with each
//! `--sip`, a `--live` run on recorded probes, every cache under
//! `testdata/caches` and each of its FAT slices) validates, and the
//! schemas are strict enough to catch a renamed or missing field, a value
//! of the wrong type or an unknown severity, verdict or code.

use std::path::{Path, PathBuf};
use std::process::Command;

use jsonschema::Validator;
use serde_json::{Value, json};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema_value(name: &str) -> Value {
    let path = manifest().join("docs/schema").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn validator(name: &str) -> Validator {
    let schema = schema_value(name);
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{name}: not a usable schema: {e}"))
}

/// Panic with every error (and where it is) when `doc` does not validate.
fn assert_valid(v: &Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(doc).map(|e| format!("  at {}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match its schema:\n{}\n{doc:#}", errors.join("\n"));
}

/// kcheck's standard output and exit status.
fn kcheck(args: &[&str]) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_kcheck")).args(args).env_remove("NO_COLOR").output().unwrap();
    let code = out.status.code().expect("kcheck exited by a signal");
    assert!((0..=2).contains(&code), "kcheck {args:?} failed ({code}): {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), code)
}

/// Every fixture root, as `verify --root` takes it (the system volume of
/// a Recovery-style pair).
fn roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = std::fs::read_dir(manifest().join("testdata/roots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| if p.join("Macintosh HD").is_dir() { p.join("Macintosh HD") } else { p })
        .collect();
    roots.sort();
    assert!(roots.len() >= 20, "expected the fixture roots, found {}", roots.len());
    roots
}

const SIPS: &[&str] = &["unknown", "enabled", "disabled"];

/// `verify --json` for every root and `--sip`: (what, document, exit status).
fn verify_documents() -> Vec<(String, Value, i32)> {
    let mut docs = Vec::new();
    for root in roots() {
        for sip in SIPS {
            let r = root.to_str().unwrap();
            let (out, code) = kcheck(&["verify", "--root", r, "--sip", sip, "--json"]);
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{r}: not JSON: {e}"));
            docs.push((format!("verify --json --root {r} --sip {sip}"), doc, code));
        }
    }
    docs
}

/// The demo root with a panic report, and a folder of recorded probe
/// outputs: `verify --live --probe-dir` fills every field of `live`.
fn live_scenario() -> (tempfile::TempDir, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&manifest().join("testdata/roots/demo-10.15.0-pending-shove"), dir.path());
    let reports = dir.path().join("Macintosh HD - Data/Library/Logs/DiagnosticReports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::copy(
        manifest().join("testdata/logs/panic-zone-leak-19G73.txt"),
        reports.join("Kernel_2020-07-20-101010_Mac.panic"),
    )
    .unwrap();
    let probe = tempfile::tempdir().unwrap();
    let p = probe.path();
    std::fs::create_dir_all(p.join("sysctl")).unwrap();
    std::fs::write(p.join("sysctl/kern.version"), kcheck_testkit::synth::catalina_kernel().version + "\n").unwrap();
    std::fs::write(p.join("sysctl/kern.kernelcacheuuid"), "00000000-1111-2222-3333-444444444444\n").unwrap();
    std::fs::write(p.join("sysctl/kern.boottime"), "{ sec = 4102444800, usec = 0 } Fri Jan  1 00:00:00 2100\n")
        .unwrap();
    std::fs::write(p.join("csrutil status.txt"), "System Integrity Protection status: enabled.\n").unwrap();
    std::fs::copy(manifest().join("testdata/logs/kextstat-10.15.txt"), p.join("kextstat.txt")).unwrap();
    let root = dir.path().join("Macintosh HD");
    (dir, root, probe)
}

fn live_document() -> Value {
    let (_keep, root, probe) = live_scenario();
    let (out, _) = kcheck(&[
        "verify",
        "--live",
        "--probe-dir",
        probe.path().to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

/// Every cache file under `testdata/caches`, and the bare kernels of the
/// roots (kind `kernel`, no kexts).
fn cache_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest().join("testdata/caches"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the fixture caches, found {}", files.len());
    for root in ["healthy-10.14", "healthy-10.15", "healthy-11"] {
        files.push(manifest().join("testdata/roots").join(root).join("System/Library/Kernels/kernel"));
    }
    files
}

/// `kexts --json` for every cache, and for each FAT slice of it with
/// `--arch`.
fn kexts_documents() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for file in cache_files() {
        let f = file.to_str().unwrap();
        let (out, code) = kcheck(&["kexts", "--json", f]);
        assert_eq!(code, 0, "kexts {f}");
        docs.push((format!("kexts --json {f}"), serde_json::from_str(&out).unwrap()));
        let (info, _) = kcheck(&["info", "--json", f]);
        let info: Value = serde_json::from_str(&info).unwrap();
        for slice in info["slices"].as_array().unwrap() {
            let arch = slice["arch"].as_str().unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_kcheck")).args(["kexts", "--json", "--arch", arch, f]).output();
            let out = out.unwrap();
            // A slice may be something other than a cache (65): only
            // the slices that are caches have a kexts document.
            if out.status.code() == Some(0) {
                let doc = serde_json::from_slice(&out.stdout).unwrap();
                docs.push((format!("kexts --json --arch {arch} {f}"), doc));
            }
        }
    }
    docs
}

fn jsonl_lines(out: &str, what: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: a line is not JSON: {e}: {l}")))
        .collect()
}

// ---------------------------------------------------------------------------
// The schemas themselves

#[test]
fn schemas_are_draft_2020_12_and_valid() {
    for name in ["verify.schema.json", "kexts.schema.json", "jsonl-record.schema.json"] {
        let schema = schema_value(name);
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{name} is not a valid draft 2020-12 schema: {e}");
        }
        assert!(schema["title"].is_string() && schema["description"].is_string(), "{name}: title, description");
        validator(name);
    }
}

#[test]
fn the_finding_is_described_the_same_in_verify_and_jsonl() {
    let verify = schema_value("verify.schema.json");
    let jsonl = schema_value("jsonl-record.schema.json");
    for def in ["finding", "code", "severity"] {
        assert_eq!(verify["$defs"][def], jsonl["$defs"][def], "$defs/{def} differs between the two schemas");
    }
    assert_eq!(verify["$defs"]["verdict"]["enum"], jsonl["$defs"]["run"]["properties"]["verdict"]["enum"]);
    assert_eq!(
        verify["$defs"]["era"]["enum"],
        jsonl["$defs"]["run"]["properties"]["system"]["properties"]["era"]["enum"]
    );
    assert_eq!(verify["$defs"]["tool"], jsonl["$defs"]["run"]["properties"]["tool"]);
    assert_eq!(verify["$defs"]["not_checked"], jsonl["$defs"]["run"]["properties"]["not_checked"]["items"]);
}

#[test]
fn the_schemas_know_every_code_severity_and_verdict_of_the_code() {
    use kcheck::check::finding::{Code, Severity, Verdict};
    let verify = schema_value("verify.schema.json");
    let defs = &verify["$defs"];
    let code = jsonschema::draft202012::new(&defs["code"]).unwrap();
    for c in Code::ALL {
        assert!(code.is_valid(&json!(c.as_str())), "{c} does not match the schema's code pattern");
    }
    for bad in ["kx001", "KX01", "KX0011", "K1001", ""] {
        assert!(!code.is_valid(&json!(bad)), "{bad:?} matches the code pattern");
    }
    let severities: Vec<&str> =
        [Severity::Error, Severity::Warning, Severity::Info].iter().map(|s| s.as_str()).collect();
    assert_eq!(defs["severity"]["enum"], json!(severities));
    let verdicts: Vec<&str> =
        [Verdict::Healthy, Verdict::Attention, Verdict::Broken].iter().map(|v| v.as_str()).collect();
    assert_eq!(defs["verdict"]["enum"], json!(verdicts));
}

// ---------------------------------------------------------------------------
// Real outputs validate

#[test]
fn verify_json_of_every_root_matches_the_schema() {
    let v = validator("verify.schema.json");
    let mut verdicts = std::collections::BTreeSet::new();
    let mut eras = std::collections::BTreeSet::new();
    let mut statuses = std::collections::BTreeSet::new();
    let mut severities = std::collections::BTreeSet::new();
    for (what, doc, code) in verify_documents() {
        assert_valid(&v, &doc, &what);
        let verdict = doc["verdict"].as_str().unwrap().to_string();
        let expected = match verdict.as_str() {
            "healthy" => 0,
            "attention" => 1,
            _ => 2,
        };
        assert_eq!(code, expected, "{what}: exit status and verdict disagree");
        verdicts.insert(verdict);
        eras.insert(doc["system"]["era"].as_str().unwrap().to_string());
        for c in doc["caches"].as_array().unwrap() {
            statuses.insert(c["status"].as_str().unwrap().to_string());
        }
        for f in doc["findings"].as_array().unwrap() {
            severities.insert(f["severity"].as_str().unwrap().to_string());
        }
    }
    // The fixtures exercise every branch the schema describes.
    assert_eq!(verdicts.len(), 3, "{verdicts:?}");
    assert_eq!(eras.len(), 3, "{eras:?}");
    assert_eq!(severities.len(), 3, "{severities:?}");
    for s in ["ok", "missing", "unreadable"] {
        assert!(statuses.contains(s), "no cache with status {s}: {statuses:?}");
    }
}

#[test]
fn verify_live_json_matches_the_schema() {
    let doc = live_document();
    let live = &doc["live"];
    assert!(live.is_object(), "{doc:#}");
    assert_eq!(live["sip"], "enabled");
    assert!(live["boot_time"].is_i64() && live["loaded_kexts"].as_u64().unwrap() > 0, "{live:#}");
    assert_eq!(live["panic_reports"].as_array().unwrap().len(), 1, "{live:#}");
    assert_valid(&validator("verify.schema.json"), &doc, "verify --live --json");
}

#[test]
fn verify_jsonl_of_every_root_matches_the_schema_and_the_json() {
    let v = validator("jsonl-record.schema.json");
    for root in roots() {
        for sip in SIPS {
            let r = root.to_str().unwrap();
            let what = format!("verify --format jsonl --root {r} --sip {sip}");
            let (out, code) = kcheck(&["verify", "--root", r, "--sip", sip, "--format", "jsonl"]);
            let lines = jsonl_lines(&out, &what);
            for line in &lines {
                assert_valid(&v, line, &what);
            }
            // Findings first, then exactly one run record, last.
            let (run, findings) = lines.split_last().unwrap_or_else(|| panic!("{what}: no output"));
            assert_eq!(run["record"], "run", "{what}: the last line is the run record");
            assert!(findings.iter().all(|f| f["record"] == "finding"), "{what}: {out}");
            // The same report as --json.
            let (json, json_code) = kcheck(&["verify", "--root", r, "--sip", sip, "--json"]);
            let json: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(code, json_code, "{what}");
            assert_eq!(run["verdict"], json["verdict"], "{what}");
            assert_eq!(run["not_checked"], json["not_checked"], "{what}");
            assert_eq!(run["root"], json["root"], "{what}");
            let stripped: Vec<Value> = findings
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    f.as_object_mut().unwrap().remove("record");
                    f
                })
                .collect();
            assert_eq!(Value::Array(stripped), json["findings"], "{what}");
            for sev in ["error", "warning", "info"] {
                let n = findings.iter().filter(|f| f["severity"] == sev).count();
                assert_eq!(run["counts"][sev], n, "{what}: counts.{sev}");
            }
        }
    }
}

#[test]
fn kexts_json_of_every_cache_matches_the_schema() {
    let v = validator("kexts.schema.json");
    let docs = kexts_documents();
    let mut kinds = std::collections::BTreeSet::new();
    for (what, doc) in &docs {
        assert_valid(&v, doc, what);
        kinds.insert(doc["kind"].as_str().unwrap().to_string());
    }
    assert!(docs.iter().any(|(w, _)| w.contains("--arch")), "no FAT slice was listed");
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}

// ---------------------------------------------------------------------------
// The schemas catch what a consumer would trip over

/// JSON pointers of every object in `v` (not inside `evidence`, whose
/// keys depend on the finding code).
fn objects(v: &Value, ptr: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            out.push(ptr.clone());
            for (k, x) in m {
                if k != "evidence" {
                    objects(x, format!("{ptr}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                objects(x, format!("{ptr}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Every scalar (string, number, bool, null) in `v`, outside `evidence`.
fn leaves(v: &Value, ptr: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k != "evidence" {
                    leaves(x, format!("{ptr}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{ptr}/{i}"), out);
            }
        }
        _ => out.push(ptr),
    }
}

/// Rename every field of every object of `doc` in turn (which is also the
/// field going missing): the schema must reject each. Then give every
/// scalar a value of another type: rejected too.
fn assert_strict(v: &Validator, doc: &Value, what: &str) {
    assert_valid(v, doc, what);
    let mut ptrs = Vec::new();
    objects(doc, String::new(), &mut ptrs);
    let mut renamed = 0;
    for ptr in &ptrs {
        let keys: Vec<String> = doc.pointer(ptr).unwrap().as_object().unwrap().keys().cloned().collect();
        for key in keys {
            let mut bad = doc.clone();
            let obj = bad.pointer_mut(ptr).unwrap().as_object_mut().unwrap();
            let value = obj.remove(&key).unwrap();
            obj.insert(format!("{key}_renamed"), value);
            assert!(!v.is_valid(&bad), "{what}: renaming {ptr}/{key} is not caught by the schema");
            renamed += 1;
        }
    }
    let mut scalars = Vec::new();
    leaves(doc, String::new(), &mut scalars);
    for ptr in &scalars {
        let mut bad = doc.clone();
        let slot = bad.pointer_mut(ptr).unwrap();
        *slot = match slot {
            Value::String(_) => json!(7),
            Value::Number(_) => json!("7"),
            Value::Bool(b) => json!(b.to_string()),
            _ => json!([true]),
        };
        assert!(!v.is_valid(&bad), "{what}: a value of another type at {ptr} is not caught by the schema");
    }
    assert!(renamed > 5, "{what}: only {renamed} fields");
}

/// `doc` with the string at `ptr` replaced by `value`.
fn with(doc: &Value, ptr: &str, value: Value) -> Value {
    let mut d = doc.clone();
    *d.pointer_mut(ptr).unwrap_or_else(|| panic!("no {ptr} in {doc:#}")) = value;
    d
}

#[test]
fn verify_schema_catches_renamed_missing_and_mistyped_fields() {
    let v = validator("verify.schema.json");
    let demo = manifest().join("testdata/roots/demo-10.15.0-pending-shove/Macintosh HD");
    let (out, _) = kcheck(&["verify", "--root", demo.to_str().unwrap(), "--json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_strict(&v, &doc, "verify --json (demo)");
    // 11+: the auxiliary collection's fields.
    let healthy11 = manifest().join("testdata/roots/healthy-11");
    let (out, _) = kcheck(&["verify", "--root", healthy11.to_str().unwrap(), "--json"]);
    assert_strict(&v, &serde_json::from_str(&out).unwrap(), "verify --json (healthy-11)");
    // Every field of `live`.
    assert_strict(&v, &live_document(), "verify --live --json");

    // Values outside the documented sets.
    for (ptr, value) in [
        ("/verdict", json!("fine")),
        ("/findings/0/severity", json!("fatal")),
        ("/findings/0/code", json!("st003")),
        ("/findings/0/code", json!("ST03")),
        ("/findings/0/evidence", json!("a string")),
        ("/system/era", json!("catalina")),
        ("/system/sip", json!("on")),
        ("/caches/0/role", json!("primary")),
        ("/caches/0/status", json!("fine")),
        ("/caches/0/kc_id", json!("f0983e06-d18f-83cf-45f4-5e0fb6773174")),
        ("/caches/0/sha256", json!("E81F798F")),
        ("/caches/0/layers/0", json!("zip")),
        ("/tool/name", json!("kcheck2")),
    ] {
        assert!(!v.is_valid(&with(&doc, ptr, value.clone())), "{ptr} = {value} is not caught by the schema");
    }
    // A cache that is not ok has no hash and no kexts; an ok one has its
    // layers (its hash only where a rule compares caches, 10.15).
    let missing = (0..doc["caches"].as_array().unwrap().len()).find(|i| doc["caches"][i]["status"] != "ok");
    if let Some(i) = missing {
        assert!(!v.is_valid(&with(&doc, &format!("/caches/{i}/kext_count"), json!(3))));
    }
    assert!(v.is_valid(&with(&doc, "/caches/0/sha256", Value::Null)), "an ok cache without sha256");
    assert!(!v.is_valid(&with(&doc, "/caches/0/layers", json!([]))), "an ok cache without layers");
    // Growth is allowed: a new field anywhere is fine.
    let mut grown = doc.clone();
    grown["schema_version"] = json!(2);
    grown["system"]["model"] = json!("MacBookPro16,1");
    grown["findings"][0]["docs_url"] = json!("docs/findings.md#st003");
    grown["caches"][0]["mtime"] = json!(1);
    assert_valid(&v, &grown, "verify --json with new fields");
}

#[test]
fn kexts_schema_catches_renamed_missing_and_mistyped_fields() {
    let v = validator("kexts.schema.json");
    let file = manifest().join("testdata/caches/prelinkedkernel-a.fat-lzvn");
    let (out, _) = kcheck(&["kexts", "--json", file.to_str().unwrap()]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    // Some kexts are codeless (null uuid, address, size), others not.
    let kexts = doc["kexts"].as_array().unwrap();
    assert!(kexts.iter().any(|k| k["uuid"].is_null()) && kexts.iter().any(|k| k["uuid"].is_string()));
    assert_strict(&v, &doc, "kexts --json");
    let coded = kexts.iter().position(|k| k["load_address"].is_string()).unwrap();
    for (ptr, value) in [
        (format!("/kexts/{coded}/load_address"), json!(18446743521800417280u64)),
        (format!("/kexts/{coded}/load_address"), json!("0XFFFFFF7F80009000")),
        (format!("/kexts/{coded}/uuid"), json!("a7590331-dff5-dea8-960e-22b16ab8632f")),
        (format!("/kexts/{coded}/bundle_id"), json!("")),
        ("/kind".to_string(), json!("mach-o")),
        ("/layers".to_string(), json!([])),
    ] {
        assert!(!v.is_valid(&with(&doc, &ptr, value.clone())), "{ptr} = {value} is not caught by the schema");
    }
}

#[test]
fn jsonl_schema_catches_renamed_missing_and_mistyped_fields() {
    let v = validator("jsonl-record.schema.json");
    let demo = manifest().join("testdata/roots/demo-10.15.0-pending-shove/Macintosh HD");
    let (out, _) = kcheck(&["verify", "--root", demo.to_str().unwrap(), "--format", "jsonl"]);
    let lines = jsonl_lines(&out, "demo jsonl");
    assert!(lines.len() >= 2);
    for (i, line) in lines.iter().enumerate() {
        assert_strict(&v, line, &format!("jsonl line {}", i + 1));
    }
    let finding = &lines[0];
    let run = lines.last().unwrap();
    for (doc, ptr, value) in [
        (finding, "/record", json!("result")),
        (finding, "/severity", json!("critical")),
        (finding, "/code", json!("ST-003")),
        (run, "/record", json!("finding")),
        (run, "/verdict", json!("ok")),
        (run, "/counts/error", json!(-1)),
        (run, "/system/era", json!("sequoia")),
    ] {
        assert!(!v.is_valid(&with(doc, ptr, value.clone())), "{ptr} = {value} is not caught by the schema");
    }
    // A line without a record type is neither kind.
    let mut bare = finding.clone();
    bare.as_object_mut().unwrap().remove("record");
    assert!(!v.is_valid(&bare));
    // New fields are fine on both kinds.
    let mut grown = run.clone();
    grown["duration_ms"] = json!(12);
    assert_valid(&v, &grown, "run record with a new field");
}
