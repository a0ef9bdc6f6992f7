//! What the README says of the command line holds: every flag its command block names is
//! accepted by that command (its `--help` lists it), and its sentence on the common flags names
//! exactly the commands that take them.

mod common;

use common::repo;
use std::process::Command;

/// `gmmzoo <words> --help`.
fn help(words: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_gmmzoo")).args(words).arg("--help").output().unwrap();
    assert!(
        out.status.success(),
        "gmmzoo {words:?} --help: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// The `--flags` in a piece of text.
fn flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let tail = &rest[at + 2..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '-')).unwrap_or(tail.len());
        if end > 0 {
            out.push(format!("--{}", &tail[..end]));
        }
        rest = &tail[end..];
    }
    out
}

/// Every command (and `zoo` subcommand) with the text the README's command block gives it.
fn command_block() -> Vec<(Vec<String>, String)> {
    let text = readme();
    let block = text.split("## Commands").nth(1).unwrap().split("```").nth(1).unwrap();
    let mut commands: Vec<(Vec<String>, String)> = Vec::new();
    for line in block.lines().skip(1) {
        let line = line.split('#').next().unwrap();
        match line.strip_prefix("gmmzoo ") {
            Some(rest) => {
                let name = rest.split_whitespace().next().unwrap().to_string();
                if name == "zoo" {
                    let subs = rest.trim_start().strip_prefix("zoo").unwrap();
                    for part in subs.split(" | ") {
                        let part = part.trim();
                        let sub = part.split_whitespace().next().unwrap().to_string();
                        commands.push((vec![name.clone(), sub], part.to_string()));
                    }
                } else {
                    commands.push((vec![name], rest.to_string()));
                }
            }
            None if line.starts_with(' ') && !commands.is_empty() => {
                commands.last_mut().unwrap().1.push_str(line);
            }
            None => {}
        }
    }
    commands
}

#[test]
fn every_flag_of_the_readmes_command_block_is_accepted() {
    let commands = command_block();
    assert!(commands.len() >= 14, "{commands:?}");
    for (words, text) in &commands {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let help = help(&words);
        for flag in flags(text) {
            assert!(
                help.contains(&flag),
                "README: `gmmzoo {}` takes {flag}, --help:\n{help}",
                words.join(" ")
            );
        }
    }
}

/// The backticked command names just before `tail` in the README's sentence.
fn named_before(text: &str, tail: &str) -> Vec<String> {
    let at = text.find(tail).unwrap_or_else(|| panic!("README has no `{tail}`"));
    let clause = &text[..at];
    let clause = &clause[clause.rfind(';').unwrap() + 1..];
    clause.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_readmes_sentence_on_common_flags_names_exactly_the_commands_that_take_them() {
    let text = readme().split_whitespace().collect::<Vec<_>>().join(" ");
    let all: Vec<Vec<&str>> = vec![
        vec!["train"],
        vec!["eval"],
        vec!["score"],
        vec!["sample"],
        vec!["classify"],
        vec!["select"],
        vec!["inspect"],
        vec!["finetune"],
        vec!["refine"],
        vec!["restore"],
        vec!["impute"],
        vec!["zoo", "list"],
        vec!["zoo", "add"],
        vec!["zoo", "verify"],
        vec!["zoo", "table"],
        vec!["bench"],
        vec!["devices"],
    ];
    let top = help(&[]);
    for words in &all {
        assert!(top.contains(words[0]), "gmmzoo --help lists no {}", words[0]);
    }
    assert!(text.contains("Every command takes `--threads N`"));
    let common = named_before(&text, "take `--data-dir DIR`, `--device NAME` and `--quiet`");
    let writers = named_before(&text, "which write a folder or a file, take `--overwrite`");
    for words in &all {
        let help = help(words);
        let name = words.join(" ");
        assert!(help.contains("--threads"), "{name} takes no --threads");
        let takes_common = ["--data-dir", "--device", "--quiet"].iter().all(|f| help.contains(f));
        assert_eq!(takes_common, common.contains(&name), "{name}: --data-dir/--device/--quiet");
        assert_eq!(help.contains("--overwrite"), writers.contains(&name), "{name}: --overwrite");
    }
}

/// The quick start's printed figure, quoted on two pages: the same words on both, and the
/// manifest's recorded figure to within the 1e-4 nats by which CPUs' float rounding differs.
#[test]
fn the_quick_starts_figure_is_quoted_alike_and_is_the_recorded_one() {
    let quote = |page: &str| {
        let text = std::fs::read_to_string(repo().join(page)).unwrap();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let at =
            text.find("`test 81.").unwrap_or_else(|| panic!("{page} quotes no quick start figure"));
        text[at + 1..].split('`').next().unwrap().to_string()
    };
    let (readme, training) = (quote("README.md"), quote("docs/training.md"));
    assert_eq!(
        readme, training,
        "README.md and docs/training.md quote the quick start differently"
    );
    let numbers: Vec<f64> = readme.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let manifest = gmm_zoo::experiments::zoo::Manifest::load(&repo().join("checkpoints")).unwrap();
    let entry = manifest.models.iter().find(|e| e.name == "quickstart").unwrap();
    let layer = &entry.layers[0];
    assert!((numbers[0] - layer.test_nats).abs() < 1e-4, "{readme} vs {}", layer.test_nats);
    assert!((numbers[1] - layer.test_standard_error.unwrap()).abs() < 1e-4, "{readme}");
}
