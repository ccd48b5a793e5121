//! The Intel AuxKC build list reader (`kcheck::system::auxkc`).

use kcheck::system::auxkc::*;
use kcheck_testkit::policy::{auxkc_instructions_plist, auxkc_instructions_plist_array};
use plist::Value;
use std::io::Cursor;

fn e(path: &str, team: Option<&str>, hash: Option<&str>, id: Option<&str>) -> AuxKcEntry {
    AuxKcEntry {
        bundle_path: path.into(),
        team_id: team.map(Into::into),
        cd_hash: hash.map(Into::into),
        bundle_id: id.map(Into::into),
    }
}

fn err(bytes: &[u8]) -> String {
    let msg = parse(bytes).unwrap_err();
    assert!(msg.starts_with("kcgen instructions: "), "{msg}");
    assert!(!msg.contains('\n'), "{msg:?}");
    msg
}

fn xml(kexts: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\"><dict><key>kextsToBuild</key>{kexts}</dict></plist>\n"
    )
    .into_bytes()
}

const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn dictionary_form_round_trips() {
    let entries = vec![
        e("/Library/Extensions/A.kext", Some("ABCDE12345"), Some(HASH), Some("com.a")),
        e("/Library/Extensions/B.kext", None, Some(HASH), Some("com.b")),
        e(
            "/Library/Filesystems/macfuse.fs/Contents/Extensions/13/macfuse.kext",
            Some("3T5GSNBU6W"),
            None,
            Some("io.macfuse.filesystems.macfuse"),
        ),
    ];
    assert_eq!(parse(&auxkc_instructions_plist(&entries)).unwrap(), entries);
}

#[test]
fn array_form_has_no_bundle_ids() {
    let entries = vec![e("/Library/Extensions/A.kext", Some("ABCDE12345"), Some(HASH), None)];
    assert_eq!(parse(&auxkc_instructions_plist_array(&entries)).unwrap(), entries);
    let with_id = vec![e("/L/E/B.kext", None, None, Some("com.b"))];
    assert_eq!(parse(&auxkc_instructions_plist_array(&with_id)).unwrap()[0].bundle_id, None);
}

#[test]
fn hand_written_file_like_kernelmanagerd_writes() {
    let bytes = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>somethingElse</key>
	<array><integer>1</integer><dict/></array>
	<key>kextsToBuild</key>
	<dict>
		<key>com.example.driver</key>
		<dict>
			<key>bundlePathMainOS</key>
			<string>/Library/Extensions/Example.kext</string>
			<key>cdHash</key>
			<string>0123456789abcdef0123456789abcdef01234567</string>
			<key>teamID</key>
			<string>ABCDE12345</string>
			<key>unknownKey</key>
			<true/>
		</dict>
		<key>com.example.unsigned</key>
		<dict>
			<key>bundlePathMainOS</key>
			<string>/Library/Extensions/Unsigned.kext</string>
			<key>cdHash</key>
			<data>ASNFZ4mrze8BI0VniavN7wEjRWc=</data>
			<key>teamID</key>
			<string></string>
		</dict>
		<key></key>
		<dict>
			<key>bundlePathMainOS</key>
			<string>/Library/Extensions/NoKey.kext</string>
			<key>cdHash</key>
			<string></string>
		</dict>
	</dict>
</dict>
</plist>
"#;
    assert_eq!(
        parse(bytes).unwrap(),
        vec![
            e("/Library/Extensions/Example.kext", Some("ABCDE12345"), Some(HASH), Some("com.example.driver")),
            e("/Library/Extensions/Unsigned.kext", None, Some(HASH), Some("com.example.unsigned")),
            e("/Library/Extensions/NoKey.kext", None, None, None),
        ]
    );
}

#[test]
fn binary_plists_are_read() {
    let entries = vec![e("/Library/Extensions/A.kext", Some("T"), Some(HASH), Some("com.a"))];
    let v = Value::from_reader(Cursor::new(auxkc_instructions_plist(&entries))).unwrap();
    let mut bin = Vec::new();
    v.to_writer_binary(&mut bin).unwrap();
    assert!(bin.starts_with(b"bplist00"));
    assert_eq!(parse(&bin).unwrap(), entries);
}

#[test]
fn empty_build_lists() {
    assert_eq!(parse(&xml("<dict/>")).unwrap(), vec![]);
    assert_eq!(parse(&xml("<array></array>")).unwrap(), vec![]);
}

#[test]
fn input_size_bound() {
    let mut ok = auxkc_instructions_plist(&[e("/L/E/A.kext", None, None, Some("com.a"))]);
    ok.resize(MAX_INPUT_BYTES, b' ');
    assert_eq!(parse(&ok).unwrap().len(), 1);
    ok.push(b' ');
    assert!(err(&ok).contains("file too large (16777217 bytes, limit 16777216)"));
}

#[test]
fn not_a_property_list() {
    for bytes in [&b""[..], b"   ", b"hello", b"{\"kextsToBuild\": {}}", b"{ kextsToBuild = { }; }", b"\xff\xfe<\0"] {
        assert!(err(bytes).contains("not an XML or binary property list"), "{bytes:?}");
    }
    for bytes in [
        &b"<"[..],
        b"<plist><dict><key>kextsToBuild</key>",
        b"<?xml version=\"1.0\"?><plist><dict></plist>",
        b"bplist00",
    ] {
        assert!(err(bytes).contains("not a property list"), "{bytes:?}");
    }
}

#[test]
fn wrong_shapes_are_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"<plist><array/></plist>", "top level is not a dictionary"),
        (b"<plist><dict><key>other</key><true/></dict></plist>", "no kextsToBuild key"),
        (&xml("<string>x</string>"), "kextsToBuild is a string, not a dictionary or array"),
        (
            &xml("<dict><key>com.a</key><string>x</string></dict>"),
            "kextsToBuild[\"com.a\"] is a string, not a dictionary",
        ),
        (&xml("<array><integer>3</integer></array>"), "kextsToBuild[0] is an integer, not a dictionary"),
        (&xml("<dict><key>com.a</key><dict/></dict>"), "kextsToBuild[\"com.a\"]: no bundlePathMainOS"),
        (
            &xml("<dict><key>com.a</key><dict><key>bundlePathMainOS</key><integer>1</integer></dict></dict>"),
            "bundlePathMainOS is an integer, not a string",
        ),
        (
            &xml("<dict><key>com.a</key><dict><key>bundlePathMainOS</key><string></string></dict></dict>"),
            "bundlePathMainOS is empty",
        ),
        (
            &xml(
                "<array><dict><key>bundlePathMainOS</key><string>/a</string><key>teamID</key><integer>1</integer></dict></array>",
            ),
            "kextsToBuild[0]: teamID is an integer, not a string",
        ),
        (
            &xml("<array><dict><key>bundlePathMainOS</key><string>/a</string><key>cdHash</key><true/></dict></array>"),
            "kextsToBuild[0]: cdHash is a boolean, not a string or data",
        ),
    ];
    for (bytes, want) in cases {
        let got = err(bytes);
        assert!(got.contains(want), "{got} / {want}");
    }
}

#[test]
fn keys_in_messages_are_one_line_and_short() {
    let key = format!("com.a\nb{}", "x".repeat(200));
    let got = err(&xml(&format!("<dict><key>{key}</key><true/></dict>")));
    assert!(got.contains("kextsToBuild[\"com.a b") && got.contains("…\"] is a boolean"), "{got}");
    assert!(got.len() < 200, "{got}");
}

#[test]
fn string_bounds() {
    let long = "a".repeat(MAX_STRING_BYTES + 1);
    let fits = "a".repeat(MAX_STRING_BYTES);
    assert!(parse(&auxkc_instructions_plist(&[e(&fits, Some(&fits), Some(&fits), Some(&fits))])).is_ok());
    for entry in [
        e(&long, None, None, Some("k")),
        e("/p", Some(&long), None, Some("k")),
        e("/p", None, Some(&long), Some("k")),
        e("/p", None, None, Some(&long)),
    ] {
        assert!(err(&auxkc_instructions_plist(&[entry])).contains("longer than 4096 bytes"));
    }
    let data = format!(
        "<array><dict><key>bundlePathMainOS</key><string>/p</string><key>cdHash</key><data>{}</data></dict></array>",
        "AAAA".repeat(683)
    );
    assert!(err(&xml(&data)).contains("cdHash is longer than 4096 bytes"));
}

#[test]
fn entry_count_bound() {
    let one = "<dict><key>bundlePathMainOS</key><string>/a</string></dict>";
    let fits = xml(&format!("<array>{}</array>", one.repeat(MAX_ENTRIES)));
    assert_eq!(parse(&fits).unwrap().len(), MAX_ENTRIES);
    let over = xml(&format!("<array>{}</array>", one.repeat(MAX_ENTRIES + 1)));
    assert!(err(&over).contains("too many entries (100001, limit 100000)"));
}

// ----- nesting and expansion -----

/// An ignored top-level value nested `n` levels deep.
fn nested_xml(n: usize) -> Vec<u8> {
    format!(
        "<plist><dict><key>deep</key>{}{}<key>kextsToBuild</key><dict/></dict></plist>",
        "<array>".repeat(n),
        "</array>".repeat(n)
    )
    .into_bytes()
}

#[test]
fn xml_nesting_bound() {
    // The root dictionary is level 1.
    assert!(parse(&nested_xml(MAX_DEPTH - 1)).is_ok());
    assert!(err(&nested_xml(MAX_DEPTH)).contains("nested deeper than 32 levels"));
}

#[test]
fn very_deep_xml_is_refused_without_overflowing_the_stack() {
    // Big enough to overflow any test thread's stack on drop.
    let n = 1_000_000;
    assert!(err(&nested_xml(n)).contains("nested deeper"));
    // Deep and then broken: the parser would fail after building it.
    let mut broken = b"<plist><array>".to_vec();
    broken.extend("<array>".repeat(n).bytes());
    broken.extend("</array>".repeat(n).bytes());
    broken.extend(b"<bogus");
    assert!(err(&broken).contains("nested deeper"));
}

#[test]
fn xml_scanner_cannot_be_fooled() {
    let deep = |filler: &str| {
        let mut s = String::from("<plist><dict><key>k</key>");
        for _ in 0..40 {
            s.push_str("<array>");
            s.push_str(filler);
        }
        s.push_str(&"</array>".repeat(40));
        s.push_str("<key>kextsToBuild</key><dict/></dict></plist>");
        s.into_bytes()
    };
    for filler in [
        "<!-- </array></array> -->",
        "<string><![CDATA[</array></dict>]]></string>",
        "<?pi </array> ?>",
        "<array a=\"/>\"/>",
        "<array a='>'/>",
        "<arrayx></arrayx>",
    ] {
        assert!(err(&deep(filler)).contains("nested deeper"), "{filler}");
    }
    // Self-closing and attributes do not count as levels.
    let flat = format!(
        "<plist><dict><key>k</key><array>{}</array><key>kextsToBuild</key><dict/></dict></plist>",
        "<array/><dict/><array a=\"x\"/>".repeat(100)
    );
    assert!(parse(flat.as_bytes()).is_ok());
}

/// A tiny binary-plist writer for hand-made object graphs.
enum O {
    Arr(Vec<u32>),
    Dict(Vec<(u32, u32)>),
    Str(&'static str),
}

fn bplist(objs: &[O], root: u64) -> Vec<u8> {
    fn marker(out: &mut Vec<u8>, kind: u8, len: usize) {
        if len < 15 {
            out.push(kind | len as u8);
        } else {
            out.push(kind | 0x0f);
            out.push(0x12);
            out.extend((len as u32).to_be_bytes());
        }
    }
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for o in objs {
        offsets.push(out.len() as u32);
        match o {
            O::Arr(refs) => {
                marker(&mut out, 0xa0, refs.len());
                refs.iter().for_each(|r| out.extend(r.to_be_bytes()));
            }
            O::Dict(kv) => {
                marker(&mut out, 0xd0, kv.len());
                kv.iter().for_each(|(k, _)| out.extend(k.to_be_bytes()));
                kv.iter().for_each(|(_, v)| out.extend(v.to_be_bytes()));
            }
            O::Str(s) => {
                marker(&mut out, 0x50, s.len());
                out.extend(s.bytes());
            }
        }
    }
    let table = out.len() as u64;
    offsets.iter().for_each(|o| out.extend(o.to_be_bytes()));
    out.extend([0u8; 6]);
    out.extend([4u8, 4u8]);
    out.extend((objs.len() as u64).to_be_bytes());
    out.extend(root.to_be_bytes());
    out.extend(table.to_be_bytes());
    out
}

#[test]
fn hand_made_binary_plist_parses() {
    // {kextsToBuild: {com.a: {bundlePathMainOS: /L/E/A.kext, teamID: T}}}
    let objs = [
        O::Dict(vec![(1, 2)]),
        O::Str("kextsToBuild"),
        O::Dict(vec![(3, 4)]),
        O::Str("com.a"),
        O::Dict(vec![(5, 6), (7, 8)]),
        O::Str("bundlePathMainOS"),
        O::Str("/L/E/A.kext"),
        O::Str("teamID"),
        O::Str("T"),
    ];
    assert_eq!(parse(&bplist(&objs, 0)).unwrap(), vec![e("/L/E/A.kext", Some("T"), None, Some("com.a"))]);
}

#[test]
fn binary_cycles_are_refused() {
    let objs = [O::Dict(vec![(1, 2)]), O::Str("kextsToBuild"), O::Arr(vec![3]), O::Arr(vec![2])];
    assert!(err(&bplist(&objs, 0)).contains("object contains itself"));
}

#[test]
fn binary_deep_nesting_is_refused() {
    let n = 100_000u32;
    let mut objs: Vec<O> = (0..n).map(|i| O::Arr(vec![i + 1])).collect();
    objs.push(O::Str("leaf"));
    assert!(err(&bplist(&objs, 0)).contains("nested deeper than 32 levels"));
}

#[test]
fn binary_shared_reference_bomb_is_refused() {
    // Four levels of 1000 shared references: 10^9 values from ~12 KB.
    let objs = [
        O::Dict(vec![(1, 2)]),
        O::Str("kextsToBuild"),
        O::Arr(vec![3; 1000]),
        O::Arr(vec![4; 1000]),
        O::Arr(vec![5; 1000]),
        O::Str("x"),
    ];
    let bytes = bplist(&objs, 0);
    assert!(bytes.len() < 16_000);
    assert!(err(&bytes).contains("expands too far"));
    // Modest sharing is fine (the crate expands it; the parser then finds
    // that the entries are not dictionaries).
    let objs = [O::Dict(vec![(1, 2)]), O::Str("kextsToBuild"), O::Arr(vec![3; 1000]), O::Str("x")];
    assert!(err(&bplist(&objs, 0)).contains("kextsToBuild[0] is a string, not a dictionary"));
}

#[test]
fn binary_string_bomb_is_refused() {
    // One 60 KB string referenced 2000 times: 120 MB expanded.
    let big: &'static str = Box::leak("s".repeat(60_000).into_boxed_str());
    let objs = [O::Dict(vec![(1, 2)]), O::Str("kextsToBuild"), O::Arr(vec![3; 2000]), O::Str(big)];
    assert!(err(&bplist(&objs, 0)).contains("expands too far"));
}

#[test]
fn broken_binary_plists_are_errors() {
    let good = bplist(&[O::Dict(vec![(1, 2)]), O::Str("kextsToBuild"), O::Arr(vec![])], 0);
    assert_eq!(parse(&good).unwrap(), vec![]);
    // Root out of range; offset table out of range; bad sizes; truncated.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 9] = 9;
    assert!(err(&bad).contains("not a property list"));
    let mut bad = good.clone();
    bad[n - 2] = 0xff;
    assert!(err(&bad).contains("not a property list"));
    let mut bad = good.clone();
    bad[n - 26] = 5;
    assert!(err(&bad).contains("not a property list"));
    assert!(err(&good[..good.len() - 1]).contains("not a property list"));
    assert!(err(b"bplist00\0\0\0").contains("not a property list"));
}

fn mutate(good: &[u8], rounds: usize) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..rounds {
        let mut bad = good.to_vec();
        for _ in 0..(1 + i % 6) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % bad.len();
            bad[at] = (seed >> 40) as u8;
        }
        if let Err(msg) = parse(&bad) {
            assert!(msg.starts_with("kcgen instructions: ") && !msg.contains('\n'), "{msg:?}");
        }
    }
}

#[test]
fn mutated_inputs_never_panic() {
    let entries: Vec<_> = (0..20)
        .map(|i| {
            e(&format!("/Library/Extensions/K{i}.kext"), Some("ABCDE12345"), Some(HASH), Some(&format!("com.k{i}")))
        })
        .collect();
    let xml = auxkc_instructions_plist(&entries);
    mutate(&xml, 2000);
    let mut bin = Vec::new();
    Value::from_reader(Cursor::new(&xml)).unwrap().to_writer_binary(&mut bin).unwrap();
    mutate(&bin, 4000);
}
