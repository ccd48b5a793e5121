//! Regenerate the committed fixtures: `cargo run --example gen_fixtures [DIR]`
//! (default `testdata`). Every file is synthesised by `kcheck::synth`.

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "testdata".into());
    for p in kcheck::synth::write_fixtures(std::path::Path::new(&dir))? {
        let len = std::fs::metadata(&p)?.len();
        println!("{len:>9}  {}", p.display());
    }
    Ok(())
}
