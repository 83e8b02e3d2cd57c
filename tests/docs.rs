//! The docs cannot rot: every command in a shell block of the README and `docs/` is run by CI
//! or a test, and every `accesslog-exporter` command there takes the flags the binary has.
//!
//! A command is run by CI or a test when a line of `.ci/run`, `scripts/` or `tests/` holds it
//! (or starts with it, for a script CI runs with more flags). The few that no machine here can
//! run are listed in [`NOT_RUN_HERE`] with the reason; a new one fails this test until it is
//! run somewhere or listed.

mod common;

use std::path::{Path, PathBuf};

use accesslog_exporter::cli::Cli;
use clap::Parser;

/// Commands of the docs that CI cannot run, and why.
const NOT_RUN_HERE: [(&str, &str); 8] = [
    (
        "promtool tsdb create-blocks-from openmetrics",
        "on a server's paths: tests/backfill.rs runs it on its own files and data directory",
    ),
    (
        "cp -r blocks/* /var/lib/prometheus/metrics2/",
        "a Prometheus server's data directory: tests/backfill.rs moves the blocks into its own",
    ),
    (
        "promtool tsdb create-blocks-from rules",
        "against a running Prometheus at localhost:9090: tests/backfill.rs runs it against the \
         one it starts",
    ),
    (
        "systemctl start accesslog-exporter",
        "CI has no systemd; scripts/check-package runs the unit's ExecStart with $ARGS as \
         systemd splits it, after the README's own line setting ARGS",
    ),
    (
        "docker compose -f deploy/docker-compose.yml up --build",
        "no container engine: tests/dockerfile.rs replays the image's build and checks the \
         compose services' commands; .ci/run checks the file with docker-compose config",
    ),
    (
        "docker logs -f web",
        "no container engine: tests/streams.rs feeds stdin the same way",
    ),
    (
        "cargo install cargo-fuzz",
        "fuzzing takes a nightly toolchain and minutes: CI checks the fuzz targets compile",
    ),
    (
        "cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run",
        "fuzzing takes a nightly toolchain and minutes: CI checks the fuzz targets compile",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every command in the `sh` blocks of `file`, with its line: continued lines joined, comments
/// dropped.
fn commands(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut commands = Vec::new();
    let mut block: Option<String> = None;
    let mut pending = String::new();
    for (number, line) in text.lines().enumerate() {
        if let Some(fence) = line.strip_prefix("```") {
            block = match block {
                None => Some(fence.trim().to_owned()),
                Some(_) => None,
            };
            continue;
        }
        if block.as_deref() != Some("sh") {
            continue;
        }
        let line = line.split("  #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(line);
                commands.push((number + 1, normalized(&std::mem::take(&mut pending))));
            }
        }
    }
    commands
}

fn normalized(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits a command line into words as sh does for quotes (no expansion).
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.extend(chars.next()),
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The lines of CI, the scripts and the tests, normalized.
fn runners() -> Vec<String> {
    let mut files = vec![root().join(".ci/run")];
    for dir in ["scripts", "tests"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name() != Some("docs.rs".as_ref()) {
                files.push(path);
            }
        }
    }
    let lines = files.iter().flat_map(|file| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        text.lines().map(normalized).collect::<Vec<_>>()
    });
    lines.collect()
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_command_in_the_docs_is_run_by_ci_or_a_test() {
    let runners = runners();
    let mut unaccounted = Vec::new();
    for file in doc_files() {
        for (line, command) in commands(&file) {
            for part in command.split(" | ") {
                let part = part.trim_end_matches(" 2>&1");
                let part = part.trim();
                if part.starts_with("accesslog-exporter ") {
                    continue; // checked against the flags below
                }
                let run = runners.iter().any(|runner| {
                    runner == part
                        || runner.starts_with(&format!("{part} "))
                        || runner.ends_with(&format!(" {part}"))
                        || runner.contains(&format!("\"{part}\""))
                });
                let excused = NOT_RUN_HERE
                    .iter()
                    .any(|(start, _)| part.starts_with(start));
                if !run && !excused {
                    unaccounted.push(format!("{}:{line}: {part}", file.display()));
                }
            }
        }
    }
    assert!(
        unaccounted.is_empty(),
        "commands in the docs that neither CI nor a test runs (run them, or list them in \
         NOT_RUN_HERE with why):\n{}",
        unaccounted.join("\n")
    );
}

#[test]
fn every_accesslog_exporter_command_in_the_docs_takes_the_binarys_flags() {
    let mut checked = 0;
    for file in doc_files() {
        for (line, command) in commands(&file) {
            for part in command.split(" | ") {
                let words = words(part);
                if words.first().map(String::as_str) != Some("accesslog-exporter") {
                    continue;
                }
                if let Err(error) = Cli::try_parse_from(&words) {
                    panic!("{}:{line}: {part}\n{error}", file.display());
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} commands found: is the parsing right?"
    );
}

#[test]
fn the_readme_fits_on_a_few_screens_and_links_to_pages_that_exist() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 250,
        "{} lines",
        readme.lines().count()
    );
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or_default();
            if target.starts_with("http") || target.starts_with('#') || target.starts_with('<') {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            assert!(
                dir.join(path).exists(),
                "{}: a link to {target}, which does not exist",
                file.display()
            );
        }
    }
}
