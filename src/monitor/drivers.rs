//! The monitor on a clock: the wall clock for a live log, the log's own timestamps for replay.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Clock, ClockJump, Console, Monitor, MonitorConfig, MonitorEvent, Renderer};
use crate::ingest::RecordConsumer;
use crate::parse::Record;

fn unix_second(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs() as i64,
        Err(before) => -(before.duration().as_secs_f64().ceil() as i64),
    }
}

fn wall_clock_second() -> i64 {
    unix_second(SystemTime::now())
}

/// How far the wall clock may move apart from the time that passed before it is a jump: well
/// above what NTP slews, and what a tick late by a busy second makes of a whole second.
const WALL_CLOCK_JUMP: Duration = Duration::from_secs(5);

/// The wall clock, watched against the monotonic clock for jumps (set by hand, stepped by NTP
/// after a boot without a real-time clock, or a suspend).
pub(super) struct WallClock {
    pub(super) instant: Instant,
    pub(super) wall: SystemTime,
}

impl WallClock {
    fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The jump from `self` to `now`, if the wall clock moved more than [`WALL_CLOCK_JUMP`]
    /// apart from the time that passed.
    pub(super) fn jump_to(&self, now: &WallClock) -> Option<ClockJump> {
        let expected = self.wall + now.instant.saturating_duration_since(self.instant);
        let apart = match now.wall.duration_since(expected) {
            Ok(ahead) => ahead,
            Err(behind) => behind.duration(),
        };
        (apart > WALL_CLOCK_JUMP).then(|| ClockJump {
            clock: Clock::System,
            from: unix_second(expected),
            to: unix_second(now.wall),
        })
    }
}

/// Where a monitor's events go: rendered as text or JSON, or to the terminal dashboard.
pub trait Show {
    /// One event; events come in time order.
    fn show(&mut self, event: MonitorEvent);
    /// A finished log has no more to say.
    fn end(&mut self) {}
}

/// Events rendered to a writer. A run of intervals without traffic is written as one.
pub struct Rendered<W: Write> {
    renderer: Renderer,
    out: W,
    quiet_span: Option<MonitorEvent>,
}

impl<W: Write> Rendered<W> {
    /// Events rendered by `renderer` to `out`.
    pub fn new(renderer: Renderer, out: W) -> Rendered<W> {
        Rendered {
            renderer,
            out,
            quiet_span: None,
        }
    }

    /// The output, for inspection.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Show for Rendered<W> {
    fn show(&mut self, event: MonitorEvent) {
        match (&event, &mut self.quiet_span) {
            (MonitorEvent::Second(_), _) => {}
            (MonitorEvent::Stats(report), Some(MonitorEvent::Stats(quiet))) if report.hits == 0 => {
                quiet.end = report.end;
            }
            (MonitorEvent::Stats(report), None) if report.hits == 0 => {
                self.quiet_span = Some(event)
            }
            _ => {
                if let Some(quiet) = self.quiet_span.take() {
                    let _ = self.renderer.write(&quiet, &mut self.out);
                }
                let _ = self.renderer.write(&event, &mut self.out);
            }
        }
    }

    fn end(&mut self) {
        if let Some(quiet) = self.quiet_span.take() {
            let _ = self.renderer.write(&quiet, &mut self.out);
        }
    }
}

/// Events rendered to the [`Console`], each report whole.
struct ConsoleShow {
    renderer: Renderer,
    console: Console,
}

impl Show for ConsoleShow {
    fn show(&mut self, event: MonitorEvent) {
        let mut report = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.renderer.write(&event, &mut report);
        if !report.is_empty() {
            self.console.send(report);
        }
    }
}

/// The monitor on a followed log: hits count in the second they are read, and time moves
/// with the wall clock, so the alert recovers even if no line ever comes again. What it says
/// goes to a [`Console`], whole, and never waits for the terminal; or to the dashboard.
pub struct LiveMonitor {
    monitor: Monitor,
    show: Box<dyn Show + Send>,
    clock: WallClock,
}

impl LiveMonitor {
    /// Starts monitoring now, writing to `console`.
    pub fn new(config: MonitorConfig, renderer: Renderer, console: Console) -> LiveMonitor {
        LiveMonitor::showing(config, Box::new(ConsoleShow { renderer, console }), false)
    }

    /// Starts monitoring now, showing what it says with `show`, every second closed too if
    /// `seconds`.
    pub fn showing(
        config: MonitorConfig,
        show: Box<dyn Show + Send>,
        seconds: bool,
    ) -> LiveMonitor {
        let clock = WallClock::now();
        LiveMonitor {
            monitor: Monitor::new(config, unix_second(clock.wall)).saying_seconds(seconds),
            show,
            clock,
        }
    }
}

impl RecordConsumer for LiveMonitor {
    fn record(&mut self, record: &Record<'_>) {
        self.monitor.record(wall_clock_second(), record);
    }

    fn tick(&mut self) {
        let show = &mut self.show;
        let mut say = |event: MonitorEvent| show.show(event);
        let now = WallClock::now();
        if let Some(jump) = self.clock.jump_to(&now) {
            // Hits read since the last tick count before the jump.
            let end = self.monitor.clock().max(jump.from) + 1;
            self.monitor.restart(end, jump.to, &mut say);
            say(MonitorEvent::ClockJump(jump));
        }
        self.clock = now;
        self.monitor
            .advance_to(unix_second(self.clock.wall), &mut say);
    }
}

/// The monitor over a finished log, on the log's timestamps.
///
/// Servers log a request when it ends, some with the time it began, so lines come slightly
/// out of order. A second is closed only once a line `tolerance` seconds newer has been read;
/// a line older than that counts in the oldest second still open.
///
/// Log time can jump. Two lines in a row older than the newest by more than `tolerance` and
/// the alert window are a clock set back (one alone is a late line; a clock set back by less
/// than the window piles its lines into fewer seconds of the same window, which leaves the
/// alert's sum as it was); a line more than [`LOG_TIME_JUMP`] newer is a clock set forward (a
/// host without a real-time clock logs 1970 until NTP syncs) or a silence too long to report as
/// quiet intervals. Either is said in one line, and the alert window starts again at the new
/// time.
pub struct ReplayMonitor<S: Show> {
    config: MonitorConfig,
    monitor: Option<Monitor>,
    show: S,
    seconds: bool,
    tolerance: i64,
    newest: i64,
    /// Whether the line before was older than the newest by more than `tolerance` and the
    /// alert window.
    behind: bool,
}

impl<W: Write> ReplayMonitor<Rendered<W>> {
    /// A replay writing to `out`, placing lines up to `tolerance_seconds` late by their time.
    pub fn new(
        config: MonitorConfig,
        renderer: Renderer,
        out: W,
        tolerance_seconds: u32,
    ) -> ReplayMonitor<Rendered<W>> {
        let show = Rendered::new(renderer, out);
        ReplayMonitor::showing(config, show, false, tolerance_seconds)
    }
}

impl<S: Show> ReplayMonitor<S> {
    /// A replay showing what it says with `show` (every second closed too if `seconds`),
    /// placing lines up to `tolerance_seconds` late by their time.
    pub fn showing(
        config: MonitorConfig,
        show: S,
        seconds: bool,
        tolerance_seconds: u32,
    ) -> ReplayMonitor<S> {
        ReplayMonitor {
            config,
            monitor: None,
            show,
            seconds,
            tolerance: i64::from(tolerance_seconds),
            newest: i64::MIN,
            behind: false,
        }
    }

    /// Says what the end of the log closes: every second up to the last line's, and the
    /// interval under way. Returns where it was shown, for inspection.
    pub fn finish(mut self) -> S {
        if let Some(mut monitor) = self.monitor.take() {
            let show = &mut self.show;
            monitor.finish(self.newest + 1, &mut |event| show.show(event));
        }
        self.show.end();
        self.show
    }
}

/// A gap in log time longer than this is said as a jump rather than reported as quiet
/// intervals: no site watched for traffic alerts goes a day without a request, and a clock
/// stepped forward after a boot without a real-time clock jumps years.
pub const LOG_TIME_JUMP: i64 = 24 * 60 * 60;

impl<S: Show> RecordConsumer for ReplayMonitor<S> {
    fn record(&mut self, record: &Record<'_>) {
        let second = record.timestamp.unix_seconds;
        let window = i64::from(self.config.window_seconds);
        let behind = second < self.newest.saturating_sub(self.tolerance.max(window));
        let back = behind && self.behind;
        self.behind = behind;
        let forward = second > self.newest.saturating_add(LOG_TIME_JUMP);
        let show = &mut self.show;
        if let Some(monitor) = self.monitor.as_mut().filter(|_| back || forward) {
            self.behind = false;
            monitor.restart(self.newest + 1, second, &mut |event| show.show(event));
            show.show(MonitorEvent::ClockJump(ClockJump {
                clock: Clock::Log,
                from: self.newest,
                to: second,
            }));
            self.newest = second;
        }
        let (config, seconds) = (&self.config, self.seconds);
        let monitor = self
            .monitor
            .get_or_insert_with(|| Monitor::new(config.clone(), second).saying_seconds(seconds));
        monitor.record(second, record);
        if second > self.newest {
            self.newest = second;
            monitor.advance_to(second - self.tolerance, &mut |event| show.show(event));
        }
    }
}
