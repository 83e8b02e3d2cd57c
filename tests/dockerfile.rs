//! The container build, without a container engine: the build stage of `deploy/Dockerfile`
//! replayed (exactly what its `COPY` lines copy, into an empty directory, then its `RUN`
//! command there), and the runtime stage checked against the binary's flags. The image never
//! built before this test: its `COPY` lines left out `benches/`, which `Cargo.toml` declares.

use std::path::{Path, PathBuf};
use std::process::Command;

use accesslog_exporter::cli::{Cli, DEFAULT_PORT};
use accesslog_exporter::config::Config;
use clap::Parser;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Dockerfile's stages: each a list of (instruction, arguments).
fn stages() -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "continued lines are not replayed: {line}"
        );
        let (instruction, arguments) = line.split_once(' ').unwrap_or((line, ""));
        let instruction = instruction.to_ascii_uppercase();
        if instruction == "FROM" {
            stages.push(Vec::new());
        }
        let stage = stages.last_mut().expect("FROM first");
        stage.push((instruction, arguments.trim().to_owned()));
    }
    stages
}

/// `["a", "b"]` (the JSON form of ENTRYPOINT and CMD).
fn json_list(arguments: &str) -> Vec<String> {
    serde_json::from_str(arguments).unwrap_or_else(|e| panic!("{arguments}: {e}"))
}

fn copy(source: &Path, destination: &Path) {
    if source.is_dir() {
        std::fs::create_dir_all(destination).unwrap();
        for entry in std::fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &destination.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(destination.parent().unwrap()).unwrap();
        std::fs::copy(source, destination).unwrap();
    }
}

#[test]
fn the_build_stage_builds_from_what_it_copies_and_the_runtime_stage_runs_it() {
    let stages = stages();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let (build, runtime) = (&stages[0], &stages[1]);
    assert!(build[0].1.ends_with(" AS build"), "{:?}", build[0]);

    // The build stage: COPY into an empty WORKDIR, then RUN there.
    let context = tempfile::tempdir().unwrap();
    let workdir = context.path();
    let mut run = None;
    for (instruction, arguments) in &build[1..] {
        match instruction.as_str() {
            "WORKDIR" => assert_eq!(arguments, "/src"),
            "COPY" => {
                let words: Vec<&str> = arguments.split_whitespace().collect();
                let (destination, sources) = words.split_last().unwrap();
                assert!(
                    !destination.starts_with('/'),
                    "relative to WORKDIR: {arguments}"
                );
                for source in sources {
                    let from = root().join(source);
                    assert!(from.exists(), "COPY {source}: not in the repository");
                    let to = match destination.ends_with('/') {
                        true => workdir.join(destination).join(source),
                        false => workdir.join(destination),
                    };
                    copy(&from, &to);
                }
            }
            "RUN" => run = Some(arguments.clone()),
            other => panic!("{other} is not replayed in the build stage"),
        }
    }
    let run = run.expect("a RUN line builds the binary");
    // A target directory of its own, kept between runs of the test so that only the first
    // builds every crate; the copy's sources are compiled as they are.
    let target = root().join("target/dockerfile-replay");
    let built = Command::new("sh")
        .args(["-c", &run])
        .current_dir(workdir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(
        built.success(),
        "RUN {run} failed in a copy of what COPY copies"
    );

    // Built outside a git checkout, the binary says so.
    let binary = target.join("release/accesslog-exporter");
    let version = Command::new(&binary).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(version.ends_with("(commit unknown)\n"), "{version}");

    // The runtime stage: the binary copied from the build, run as an unprivileged user on
    // the port it serves by default, with arguments it takes.
    let find = |name: &str| -> Vec<&String> {
        let found = runtime.iter().filter(|(i, _)| i == name);
        found.map(|(_, arguments)| arguments).collect()
    };
    let copied = find("COPY");
    assert_eq!(copied.len(), 1, "{copied:?}");
    let words: Vec<&str> = copied[0].split_whitespace().collect();
    assert_eq!(words[0], "--from=build");
    assert_eq!(words[1], "/src/target/release/accesslog-exporter");
    let installed = words[2];
    let user = find("USER");
    assert_eq!(user, ["accesslog"]);
    assert!(
        find("RUN")
            .iter()
            .any(|run| run.contains("useradd") && run.ends_with(" accesslog")),
        "the user is made: {runtime:?}"
    );
    assert_eq!(find("EXPOSE"), [&DEFAULT_PORT.to_string()]);
    let entrypoint = json_list(find("ENTRYPOINT")[0]);
    assert_eq!(entrypoint, [installed]);
    let command = json_list(find("CMD")[0]);
    let cli = Cli::try_parse_from(entrypoint.iter().chain(&command))
        .unwrap_or_else(|e| panic!("CMD {command:?}: {e}"));
    let Config::Serve(serve) = Config::try_from(cli).unwrap() else {
        panic!("CMD {command:?} serves");
    };
    // EXPOSE means something only if the default address is every interface's.
    assert!(
        serve.listen_address.ip().is_unspecified(),
        "{}",
        serve.listen_address
    );
    assert_eq!(serve.listen_address.port(), DEFAULT_PORT);
}

#[test]
fn the_compose_services_run_commands_the_binary_takes() {
    let text = std::fs::read_to_string(root().join("deploy/docker-compose.yml")).unwrap();
    let commands: Vec<&str> = (text.lines())
        .filter_map(|line| line.trim().strip_prefix("command: "))
        .collect();
    let ours = ["generate", "--log-file"];
    let ours: Vec<&&str> = (commands.iter())
        .filter(|command| ours.iter().any(|word| command.contains(word)))
        .collect();
    assert_eq!(ours.len(), 2, "{commands:?}");
    for command in ours {
        let words = json_list(command);
        let cli =
            Cli::try_parse_from(std::iter::once("accesslog-exporter".to_owned()).chain(words))
                .unwrap_or_else(|e| panic!("{command}: {e}"));
        Config::try_from(cli).unwrap_or_else(|e| panic!("{command}: {e}"));
    }
}
