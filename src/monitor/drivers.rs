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

/// The monitor on a followed log: hits count in the second they are read, and time moves
/// with the wall clock, so the alert recovers even if no line ever comes again. Its reports go
/// to a [`Console`], whole, and never wait for the terminal.
pub struct LiveMonitor {
    monitor: Monitor,
    renderer: Renderer,
    console: Console,
    clock: WallClock,
}

impl LiveMonitor {
    /// Starts monitoring now, writing to `console`.
    pub fn new(config: MonitorConfig, renderer: Renderer, console: Console) -> LiveMonitor {
        let clock = WallClock::now();
        LiveMonitor {
            monitor: Monitor::new(config, unix_second(clock.wall)),
            renderer,
            console,
            clock,
        }
    }
}

impl RecordConsumer for LiveMonitor {
    fn record(&mut self, record: &Record<'_>) {
        self.monitor.record(wall_clock_second(), record);
    }

    fn tick(&mut self) {
        let (renderer, console) = (&self.renderer, &self.console);
        let mut say = |event: MonitorEvent| {
            let mut report = Vec::new();
            // Writing to a Vec cannot fail.
            let _ = renderer.write(&event, &mut report);
            console.send(report);
        };
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
/// a line older than that counts in the oldest second still open. Runs of intervals without
/// traffic are reported as one.
///
/// Log time can jump. Two lines in a row older than the newest by more than `tolerance` and
/// the alert window are a clock set back (one alone is a late line; a clock set back by less
/// than the window piles its lines into fewer seconds of the same window, which leaves the
/// alert's sum as it was); a line more than [`LOG_TIME_JUMP`] newer is a clock set forward (a
/// host without a real-time clock logs 1970 until NTP syncs) or a silence too long to report as
/// quiet intervals. Either is said in one line, and the alert window starts again at the new
/// time.
pub struct ReplayMonitor<W: Write> {
    config: MonitorConfig,
    monitor: Option<Monitor>,
    renderer: Renderer,
    out: W,
    tolerance: i64,
    newest: i64,
    /// Whether the line before was older than the newest by more than `tolerance` and the
    /// alert window.
    behind: bool,
    quiet_span: Option<MonitorEvent>,
}

impl<W: Write> ReplayMonitor<W> {
    /// A replay writing to `out`, placing lines up to `tolerance_seconds` late by their time.
    pub fn new(
        config: MonitorConfig,
        renderer: Renderer,
        out: W,
        tolerance_seconds: u32,
    ) -> ReplayMonitor<W> {
        ReplayMonitor {
            config,
            monitor: None,
            renderer,
            out,
            tolerance: i64::from(tolerance_seconds),
            newest: i64::MIN,
            behind: false,
            quiet_span: None,
        }
    }

    /// Reports what the end of the log closes: every second up to the last line's, and the
    /// interval under way. Returns the output for inspection.
    pub fn finish(mut self) -> W {
        if let Some(mut monitor) = self.monitor.take() {
            let mut events = Vec::new();
            monitor.finish(self.newest + 1, &mut |event| events.push(event));
            self.emit_all(events);
        }
        if let Some(quiet) = self.quiet_span.take() {
            let _ = self.renderer.write(&quiet, &mut self.out);
        }
        self.out
    }

    fn emit_all(&mut self, events: Vec<MonitorEvent>) {
        for event in events {
            match (&event, &mut self.quiet_span) {
                (MonitorEvent::Stats(report), Some(MonitorEvent::Stats(quiet)))
                    if report.hits == 0 =>
                {
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
    }
}

/// A gap in log time longer than this is said as a jump rather than reported as quiet
/// intervals: no site watched for traffic alerts goes a day without a request, and a clock
/// stepped forward after a boot without a real-time clock jumps years.
pub const LOG_TIME_JUMP: i64 = 24 * 60 * 60;

impl<W: Write> RecordConsumer for ReplayMonitor<W> {
    fn record(&mut self, record: &Record<'_>) {
        let second = record.timestamp.unix_seconds;
        let window = i64::from(self.config.window_seconds);
        let behind = second < self.newest.saturating_sub(self.tolerance.max(window));
        let back = behind && self.behind;
        self.behind = behind;
        let forward = second > self.newest.saturating_add(LOG_TIME_JUMP);
        if let Some(monitor) = self.monitor.as_mut().filter(|_| back || forward) {
            self.behind = false;
            let mut events = Vec::new();
            monitor.restart(self.newest + 1, second, &mut |event| events.push(event));
            events.push(MonitorEvent::ClockJump(ClockJump {
                clock: Clock::Log,
                from: self.newest,
                to: second,
            }));
            self.newest = second;
            self.emit_all(events);
        }
        let config = &self.config;
        let monitor = self
            .monitor
            .get_or_insert_with(|| Monitor::new(config.clone(), second));
        monitor.record(second, record);
        if second > self.newest {
            self.newest = second;
            let mut events = Vec::new();
            monitor.advance_to(second - self.tolerance, &mut |event| events.push(event));
            self.emit_all(events);
        }
    }
}
