//! The terminal, taken for the dashboard: raw mode on the alternate screen, keys read, the
//! dashboard drawn as events come (or, in a replay, as their log time comes at `--speed`), and
//! the terminal given back on every way out: a quit key, the program's shutdown (SIGTERM), a
//! panic (given back before the panic's message is written).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::{view, Dashboard, Fed, ReadTotals};
use crate::monitor::{AlertState, MonitorEvent};
use crate::report;
use crate::shutdown::Shutdown;

/// How often keys are looked for and the screen drawn while nothing comes.
const FRAME: Duration = Duration::from_millis(100);

/// A silence in a replay longer than this much log time is passed over at once.
const LONGEST_WAIT_SECONDS: f64 = 60.0;

/// Whether `--tui` can run: stdin and stdout are a terminal.
pub fn needs_terminal() -> bool {
    use std::io::IsTerminal;
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// A replay's pace.
#[derive(Debug, Clone, Copy)]
pub struct Playback {
    /// Seconds of log time a second.
    pub speed: f64,
}

/// What the screen reads and does besides drawing events.
pub struct Controls {
    /// Asked for by a quit key; ends the screen when asked for elsewhere.
    pub shutdown: Shutdown,
    /// Lines read and parse errors so far.
    pub read: Box<dyn Fn() -> ReadTotals + Send>,
    /// Ring the terminal bell when the alert fires.
    pub bell: bool,
    /// A replay's pace; `None` shows events as they come.
    pub playback: Option<Playback>,
}

/// The dashboard on the terminal, drawn by a thread of its own. Dropped without
/// [`Screen::finish`] (a command that failed), it stops the program and gives the terminal
/// back.
pub struct Screen {
    thread: Option<JoinHandle<io::Result<()>>>,
    shutdown: Shutdown,
}

/// Whether the terminal is ours; given back once.
static TAKEN: AtomicBool = AtomicBool::new(false);
/// Whether a thread panicked while the terminal was ours.
static PANICKED: AtomicBool = AtomicBool::new(false);

impl Screen {
    /// Takes the terminal and shows `dashboard`, fed by `events`, until a quit key or the
    /// shutdown. What the program says meanwhile shows in the dashboard's status line.
    pub fn start(
        dashboard: Dashboard,
        events: Receiver<Fed>,
        controls: Controls,
    ) -> io::Result<Screen> {
        // What was said before is on the main screen, not written over the dashboard.
        report::finish();
        terminal::enable_raw_mode()?;
        TAKEN.store(true, Ordering::SeqCst);
        if let Err(error) = execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide) {
            give_back();
            return Err(error);
        }
        let previous = Arc::new(std::panic::take_hook());
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            give_back();
            previous(info);
        }));
        let (said, statuses) = std::sync::mpsc::sync_channel(report::QUEUE_LINES);
        report::to_screen(said);
        let shutdown = controls.shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("screen".into())
            .spawn(move || {
                // Stops the program too when the screen ends, by a key or a panic.
                let _stop = StopOnDrop(controls.shutdown.clone());
                show(dashboard, &events, &statuses, &controls)
            });
        match thread {
            Ok(thread) => Ok(Screen {
                thread: Some(thread),
                shutdown,
            }),
            Err(error) => {
                give_back();
                report::to_stderr();
                Err(error)
            }
        }
    }

    /// Waits for the screen to end (a quit key, or the shutdown asked for), gives the terminal
    /// back, and writes to stderr what was said while it was shown. A panic of the screen's
    /// thread goes on here.
    pub fn finish(mut self) -> io::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let result = thread.join();
        leave();
        match result {
            Ok(_) if PANICKED.load(Ordering::SeqCst) => Err(io::Error::other(
                "a thread panicked while the dashboard was shown",
            )),
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shutdown.request();
            let _ = thread.join();
            leave();
        }
    }
}

/// Asks the program to stop when dropped.
struct StopOnDrop(Shutdown);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.request();
    }
}

/// Gives the terminal back and stderr its lines, and takes the panic hook away.
fn leave() {
    give_back();
    let _ = std::panic::take_hook();
    report::to_stderr();
}

/// Leaves the alternate screen and raw mode, once.
fn give_back() {
    if TAKEN.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

fn show(
    mut dashboard: Dashboard,
    events: &Receiver<Fed>,
    statuses: &Receiver<String>,
    controls: &Controls,
) -> io::Result<()> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let mut player = Player::new(controls.playback);
    // What `p` froze.
    let mut frozen: Option<Dashboard> = None;
    let mut ended = false;
    loop {
        let mut ring = false;
        player.take(events, Instant::now(), |fed| match fed {
            Fed::Event(event) => {
                ring |= matches!(&event, MonitorEvent::Alert(change) if change.state == AlertState::Firing);
                dashboard.apply(&event);
            }
            Fed::End => ended = true,
        });
        while let Ok(status) = statuses.try_recv() {
            dashboard.status = Some(status);
        }
        dashboard.read = (controls.read)();
        dashboard.marker = match (ended, player.paused) {
            (true, _) => Some("end of log"),
            (false, true) => Some("paused"),
            (false, false) => None,
        };
        if controls.shutdown.is_requested() {
            return Ok(());
        }
        if ring && controls.bell {
            terminal.backend_mut().write_all(b"\x07")?;
        }
        let shown = match &mut frozen {
            Some(frozen) => {
                frozen.help = dashboard.help;
                frozen.marker = Some("paused");
                &*frozen
            }
            None => &dashboard,
        };
        terminal.draw(|frame| view::draw(frame, shown))?;
        if !event::poll(FRAME)? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            // A resize is drawn at the next turn.
            continue;
        };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        match key {
            KeyEvent {
                code: KeyCode::Char('q') | KeyCode::Esc,
                ..
            } => return Ok(()),
            KeyEvent {
                code: KeyCode::Char('c'),
                modifiers,
                ..
            } if modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
            KeyEvent {
                code: KeyCode::Char('p'),
                ..
            } => {
                frozen = match frozen {
                    Some(_) => None,
                    None => Some(dashboard.clone()),
                }
            }
            KeyEvent {
                code: KeyCode::Char('?'),
                ..
            } => dashboard.help = !dashboard.help,
            KeyEvent {
                code: KeyCode::Char(' '),
                ..
            } => player.toggle_pause(Instant::now()),
            KeyEvent {
                code: KeyCode::Right,
                ..
            } => player.step = true,
            #[cfg(debug_assertions)]
            KeyEvent {
                code: KeyCode::F(12),
                ..
            } if std::env::var_os("ACCESSLOG_EXPORTER_PANIC_ON_F12").is_some() => {
                panic!("F12 pressed with ACCESSLOG_EXPORTER_PANIC_ON_F12 set")
            }
            _ => {}
        }
    }
}

/// Lets events through as they come, or in a replay as their log time comes.
struct Player {
    playback: Option<Playback>,
    // The log time played to, and when it was.
    clock: Option<f64>,
    at: Instant,
    paused: bool,
    // Let everything through to the next report.
    step: bool,
    held: Option<Fed>,
}

impl Player {
    fn new(playback: Option<Playback>) -> Player {
        Player {
            playback,
            clock: None,
            at: Instant::now(),
            paused: false,
            step: false,
            held: None,
        }
    }

    fn toggle_pause(&mut self, now: Instant) {
        if self.playback.is_some() {
            self.advance(now);
            self.paused = !self.paused;
        }
    }

    fn advance(&mut self, now: Instant) {
        if let (Some(clock), Some(playback), false) = (&mut self.clock, self.playback, self.paused)
        {
            *clock += playback.speed * now.duration_since(self.at).as_secs_f64();
        }
        self.at = now;
    }

    /// Hands `apply` every event due by `now`.
    fn take(&mut self, events: &Receiver<Fed>, now: Instant, mut apply: impl FnMut(Fed)) {
        self.advance(now);
        loop {
            let fed = match self.held.take() {
                Some(fed) => fed,
                None => match events.try_recv() {
                    Ok(fed) => fed,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
                },
            };
            let Fed::Event(event) = &fed else {
                apply(fed);
                continue;
            };
            if self.playback.is_none() {
                apply(fed);
                continue;
            }
            let time = event.time() as f64;
            let clock = *self.clock.get_or_insert(time);
            let report = matches!(event, MonitorEvent::Stats(_));
            if self.step {
                self.clock = Some(time.max(clock));
                self.step = !report;
                apply(fed);
                continue;
            }
            if time <= clock {
                apply(fed);
                continue;
            }
            if !self.paused && time - clock > LONGEST_WAIT_SECONDS {
                self.clock = Some(time);
                apply(fed);
                continue;
            }
            self.held = Some(fed);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::SecondClosed;

    fn second(time: i64) -> Fed {
        Fed::Event(MonitorEvent::Second(SecondClosed {
            time,
            hits: 1,
            window_hits: 1,
        }))
    }

    fn times(fed: &[Fed]) -> Vec<i64> {
        let events = fed.iter().filter_map(|fed| match fed {
            Fed::Event(event) => Some(event.time()),
            Fed::End => None,
        });
        events.collect()
    }

    #[test]
    fn a_replay_plays_at_its_speed_and_pauses() {
        let (feed, events) = std::sync::mpsc::sync_channel(100);
        for time in 100..110 {
            feed.send(second(time)).unwrap();
        }
        let start = Instant::now();
        let mut player = Player::new(Some(Playback { speed: 2.0 }));
        player.at = start;
        let mut shown = Vec::new();
        player.take(&events, start, |fed| shown.push(fed));
        // The clock starts at the first event.
        assert_eq!(times(&shown), [101]);
        player.take(&events, start + Duration::from_secs(2), |fed| {
            shown.push(fed)
        });
        assert_eq!(times(&shown), [101, 102, 103, 104, 105]);
        player.toggle_pause(start + Duration::from_secs(2));
        player.take(&events, start + Duration::from_secs(60), |fed| {
            shown.push(fed)
        });
        assert_eq!(shown.len(), 5, "nothing plays while paused");
        player.step = true;
        player.take(&events, start + Duration::from_secs(61), |fed| {
            shown.push(fed)
        });
        assert_eq!(shown.len(), 10, "a step with no report lets all through");
    }

    #[test]
    fn a_long_silence_is_passed_over() {
        let (feed, events) = std::sync::mpsc::sync_channel(100);
        feed.send(second(100)).unwrap();
        feed.send(second(100_000)).unwrap();
        feed.send(second(100_001)).unwrap();
        let start = Instant::now();
        let mut player = Player::new(Some(Playback { speed: 1.0 }));
        player.at = start;
        let mut shown = Vec::new();
        player.take(&events, start, |fed| shown.push(fed));
        assert_eq!(times(&shown), [101, 100_001]);
        player.take(&events, start + Duration::from_secs(1), |fed| {
            shown.push(fed)
        });
        assert_eq!(times(&shown), [101, 100_001, 100_002]);
    }
}
