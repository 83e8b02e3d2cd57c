//! `--tui` in a real terminal: tmux runs the program, the test reads the screen with
//! `capture-pane`, types keys with `send-keys`, and checks that the terminal is given back
//! (the alternate screen left, cooked mode and echo on) however the program ends.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary, require_program};

/// How long a screen may take to show what is waited for.
const SCREEN_PATIENCE: Duration = Duration::from_secs(30);

/// A tmux server of its own, running one command in a window of a given size.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Runs `command` (a shell command line) in a `width`×`height` terminal; when it ends, its
    /// exit code and the terminal's modes are written beside the test.
    fn run(command: &str, width: u16, height: u16) -> Option<Tmux> {
        require_program("tmux")?;
        let dir = tempfile::tempdir().unwrap();
        let socket = format!("accesslog-tui-{}-{}", std::process::id(), fastrand::u32(..));
        let d = dir.path().display();
        let script = format!(
            "{command}; echo $? > {d}/exit.tmp; stty -a > {d}/stty; mv {d}/exit.tmp {d}/exit; \
             sleep 600"
        );
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["sh", "-c", &script])
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session");
        Some(Tmux { socket, dir })
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "tmux {args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Waits until the screen satisfies `shows`, and returns it.
    fn wait_until(&self, what: &str, shows: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if shows(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < SCREEN_PATIENCE,
                "{what} not shown within {SCREEN_PATIENCE:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        self.wait_until(needle, |screen| screen.contains(needle))
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend(keys);
        self.tmux(&args);
    }

    /// The program's exit code, once it has ended.
    fn exit_code(&self) -> i32 {
        let path = self.dir.path().join("exit");
        let started = Instant::now();
        while !path.exists() {
            assert!(
                started.elapsed() < SCREEN_PATIENCE,
                "the program did not end:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Checks that the program gave the terminal back: the main screen, cooked mode, echo.
    fn assert_terminal_given_back(&self) {
        assert_eq!(
            self.tmux(&["display-message", "-p", "#{alternate_on}"])
                .trim(),
            "0",
            "still on the alternate screen:\n{}",
            self.screen()
        );
        assert_eq!(
            self.tmux(&["display-message", "-p", "#{cursor_flag}"])
                .trim(),
            "1",
            "the cursor is hidden"
        );
        let modes = std::fs::read_to_string(self.dir.path().join("stty")).unwrap();
        let modes: Vec<&str> = modes.split([' ', ';', '\n']).collect();
        for mode in ["icanon", "echo", "isig"] {
            assert!(modes.contains(&mode), "{mode} is off: {modes:?}");
        }
    }

    /// The pid of the program the shell runs.
    fn program_pid(&self) -> u32 {
        let shell = self.tmux(&["display-message", "-p", "#{pane_pid}"]);
        let children = Command::new("pgrep")
            .args(["-P", shell.trim()])
            .output()
            .unwrap();
        let children = String::from_utf8_lossy(&children.stdout).into_owned();
        children
            .lines()
            .next()
            .expect("the program runs")
            .parse()
            .unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// `demo --tui` with an alert within seconds: a 5 s window, a burst from the first second.
fn demo_command() -> String {
    format!(
        "{} demo --tui --web.listen-address 127.0.0.1:0 --calm 1s --burst 600s --rate 200 \
         --calm-rate 1 --window 5s --threshold 20 --interval 2s --seed 7",
        binary()
    )
}

#[test]
fn demo_shows_the_alert_banner_and_quits_on_q_giving_the_terminal_back() {
    let Some(tmux) = Tmux::run(&format!("{} --bell", demo_command()), 100, 30) else {
        return;
    };
    let screen = tmux.wait_for("High traffic generated an alert - hits =");
    // --bell rang when it fired: tmux flags the window.
    tmux.wait_until("the bell", |_| {
        tmux.tmux(&["display-message", "-p", "#{window_bell_flag}"])
            .trim()
            == "1"
    });
    assert!(screen.contains("accesslog-exporter live"), "{screen}");
    assert!(screen.contains("requests per second"), "{screen}");
    // The report of the burst names its sections.
    tmux.wait_for("/api");

    tmux.keys(&["p"]);
    tmux.wait_for("[paused]");
    tmux.keys(&["p"]);
    tmux.wait_until("the live display again", |screen| {
        !screen.contains("[paused]")
    });
    tmux.keys(&["?"]);
    tmux.wait_for("show or hide the keys");
    tmux.keys(&["?"]);
    tmux.wait_until("the keys hidden", |screen| {
        !screen.contains("show or hide the keys")
    });

    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
    tmux.assert_terminal_given_back();
    // What the program said while the dashboard was up reaches the terminal after it.
    let screen = tmux.screen();
    assert!(
        screen.contains("accesslog-exporter: listening on"),
        "{screen}"
    );
    assert!(screen.contains("accesslog-exporter: stopped"), "{screen}");
}

#[test]
fn ctrl_c_and_sigterm_quit_with_exit_0_and_give_the_terminal_back() {
    let Some(tmux) = Tmux::run(&demo_command(), 80, 24) else {
        return;
    };
    tmux.wait_for("High traffic generated an alert - hits =");
    let bell = tmux.tmux(&["display-message", "-p", "#{window_bell_flag}"]);
    assert_eq!(bell.trim(), "0", "no bell without --bell");
    // In raw mode Ctrl-C is a key, not a signal.
    tmux.keys(&["C-c"]);
    assert_eq!(tmux.exit_code(), 0);
    tmux.assert_terminal_given_back();

    let Some(tmux) = Tmux::run(&demo_command(), 80, 24) else {
        return;
    };
    tmux.wait_for("accesslog-exporter live");
    let killed = Command::new("kill")
        .args(["-TERM", &tmux.program_pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(tmux.exit_code(), 0);
    tmux.assert_terminal_given_back();
}

/// Writes a log with `generate` and `flags`, starting at 2026-11-24T09:00:00Z.
fn generated_log(log: &Path, flags: &str) {
    let generated = Command::new(binary())
        .args(["generate", "--output", log.to_str().unwrap()])
        .args(flags.split_whitespace())
        .args(["--start", "2026-11-24T09:00:00Z"])
        .status()
        .unwrap();
    assert!(generated.success(), "generate {flags}");
}

#[test]
fn replay_plays_the_log_to_its_end_and_stays_until_q() {
    let dir = tempfile::tempdir().unwrap();
    let log: PathBuf = dir.path().join("access.log");
    generated_log(
        &log,
        "--format combined --profile burst --rate 50 --calm-rate 1 --calm 60s --burst 120s \
         --recover 120s --count 9000 --seed 3",
    );
    let command = format!(
        "{} replay --tui --speed 300 --window 30s --threshold 20 {}",
        binary(),
        log.display()
    );
    let Some(tmux) = Tmux::run(&command, 80, 24) else {
        return;
    };
    tmux.wait_for("High traffic generated an alert - hits =");
    let screen = tmux.wait_for("[end of log]");
    // Two bursts: the first fired and recovered, the log ends in the second.
    assert!(screen.contains("alerts: 2"), "{screen}");
    assert!(screen.contains("recovered 2026-11-24T09:0"), "{screen}");
    let banner = screen.lines().nth(1).unwrap_or_default();
    assert!(
        banner.starts_with("High traffic generated an alert - hits ="),
        "{screen}"
    );
    tmux.keys(&["Escape"]);
    assert_eq!(tmux.exit_code(), 0);
    tmux.assert_terminal_given_back();
}

#[test]
fn replay_pauses_on_space() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generated_log(&log, "--profile steady --rate 5 --count 3000 --seed 4");
    // 10 minutes of log time at 2x: far from its end when paused.
    let command = format!("{} replay --tui --speed 2 {}", binary(), log.display());
    let Some(tmux) = Tmux::run(&command, 80, 24) else {
        return;
    };
    tmux.wait_for("last report: 2026-11-24T09:00:00Z");
    tmux.keys(&["Space"]);
    let paused = tmux.wait_for("[paused]");
    let title = |screen: &str| screen.lines().next().unwrap_or_default().to_owned();
    // Stepping shows the next report, and stays paused.
    tmux.keys(&["Right"]);
    let stepped = tmux.wait_until("the next report", |screen| title(screen) != title(&paused));
    assert!(stepped.contains("[paused]"), "{stepped}");
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
    tmux.assert_terminal_given_back();
}

#[test]
fn tui_without_a_terminal_is_one_line_and_exit_2_with_no_escape_bytes() {
    for command in [
        &["demo", "--tui"][..],
        &["monitor", "--tui"],
        &["replay", "--tui", "x"],
    ] {
        let output = Command::new(binary())
            .args(command)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--tui") && stderr.contains("needs a terminal"),
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "{:?}", output.stdout);
        assert!(!stderr.contains('\x1b'), "{stderr:?}");
    }
}

#[test]
fn monitor_shows_a_missing_log_in_the_status_line_and_follows_it_once_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let command = format!(
        "{} monitor --tui --interval 1s --log-file {}",
        binary(),
        log.display()
    );
    let Some(tmux) = Tmux::run(&command, 120, 30) else {
        return;
    };
    let screen = tmux.wait_for("no such file; waiting for it to appear");
    assert!(screen.contains("accesslog-exporter live"), "{screen}");
    common::append(&log, &common::lines("shop", 3));
    tmux.wait_for("following");
    let screen = tmux.wait_for("since start: 3 hits");
    assert!(screen.contains("/shop"), "{screen}");
    assert!(screen.contains("3 lines read, 0 parse errors"), "{screen}");
    tmux.keys(&["q"]);
    assert_eq!(tmux.exit_code(), 0);
    tmux.assert_terminal_given_back();
}

#[test]
fn a_panic_gives_the_terminal_back_before_its_message_and_exits_non_zero() {
    // Debug builds panic on F12 with this set: the way to test the panic hook.
    let command = format!("ACCESSLOG_EXPORTER_PANIC_ON_F12=1 {}", demo_command());
    let Some(tmux) = Tmux::run(&command, 100, 30) else {
        return;
    };
    tmux.wait_for("accesslog-exporter live");
    tmux.keys(&["F12"]);
    assert_eq!(tmux.exit_code(), 101);
    tmux.assert_terminal_given_back();
    let screen = tmux.screen();
    assert!(screen.contains("panicked"), "{screen}");
    assert!(screen.contains("F12 pressed"), "{screen}");
}
