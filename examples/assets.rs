//! Writes what the Debian package installs beside the binary, generated from the flags so it
//! cannot drift from them: a gzip-compressed man page for the program and each command, and
//! bash, zsh and fish completions. `cargo run --example assets -- DIR` (`scripts/package`
//! runs it).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use accesslog_exporter::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use flate2::{Compression, GzBuilder};

const NAME: &str = "accesslog-exporter";

fn main() -> io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run --example assets -- DIR");
        std::process::exit(2);
    };
    let man = dir.join("man");
    let completions = dir.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;
    let command = Cli::command();
    write_man_pages(&man, command.clone())?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command.clone(), NAME, &completions)?;
    }
    Ok(())
}

/// One page for the program and one for each command (`accesslog-exporter-replay.1.gz`).
fn write_man_pages(dir: &Path, command: clap::Command) -> io::Result<()> {
    clap_mangen::generate_to(command, dir)?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "1") {
            let mut compressed = path.clone().into_os_string();
            compressed.push(".gz");
            gzip(Path::new(&compressed), &fs::read(&path)?)?;
            fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// `bytes` gzip-compressed at the highest level, with no name or time in the header (as
/// Debian's policy asks of man pages, and so the same flags make the same file).
fn gzip(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut out = GzBuilder::new()
        .mtime(0)
        .write(File::create(path)?, Compression::best());
    out.write_all(bytes)?;
    out.finish()?.sync_all()
}
