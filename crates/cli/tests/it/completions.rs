//! `trustpull completions SHELL` and `trustpull man` come from the parser's own definitions:
//! every subcommand and the policy flags appear in them.

use crate::{assert_exit, trustpull};

const SUBCOMMANDS: &[&str] = &[
    "install",
    "list",
    "pull",
    "verify",
    "verify-installed",
    "verify-bundle",
];

#[test]
fn completion_scripts_name_every_subcommand_and_flag() {
    for shell in ["bash", "zsh", "fish"] {
        let out = trustpull(&["completions", shell]);
        assert_exit(&out, 0);
        let script = String::from_utf8_lossy(&out.stdout);
        for word in SUBCOMMANDS
            .iter()
            .chain(&["certificate-identity", "require-integrity"])
        {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    assert_exit(&trustpull(&["completions", "tcsh"]), 2);
}

#[test]
fn the_man_page_is_roff_listing_every_subcommand() {
    let out = trustpull(&["man"]);
    assert_exit(&out, 0);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH trustpull 1"), "{page}");
    for sub in SUBCOMMANDS {
        // roff writes a hyphen as `\-`.
        let roff = format!("trustpull\\-{}", sub.replace('-', "\\-"));
        assert!(page.contains(&roff), "the man page lacks {roff}");
    }
}
