//! Regenerates `tests/fixtures/scenarios/` with the virtual Sigstore seeded with
//! [`scenarios::SEED`] (the same bytes every time):
//! `cargo run -p trustpull-testkit --bin make-scenarios`.

// A developer tool: it prints what it wrote.
#![allow(clippy::print_stdout)]

use std::path::Path;

use trustpull_testkit::scenarios;
use trustpull_testkit::sigstore::VirtualSigstore;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("scenarios");
    let sigstore = VirtualSigstore::from_seed(scenarios::SEED);
    let all = scenarios::build(&sigstore);
    scenarios::write(&dir, &sigstore.trusted_root_json(), &all)?;
    println!("wrote {} scenarios to {}", all.len(), dir.display());
    Ok(())
}
