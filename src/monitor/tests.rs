//! The alert and the stats, second by second, on an injected clock.

use super::*;
use crate::ingest::RecordConsumer;
use crate::parse::{Request, Timestamp};

fn config(window_seconds: u32, threshold: f64) -> MonitorConfig {
    MonitorConfig {
        interval_seconds: 10,
        window_seconds,
        threshold,
        top: 3,
        max_sections: 100,
    }
}

fn hit(target: &'static [u8]) -> Record<'static> {
    Record {
        client: b"192.0.2.1",
        user: b"-",
        timestamp: Timestamp {
            unix_seconds: 0,
            utc_offset_minutes: 0,
        },
        request: Request::Line {
            method: b"GET",
            target,
            protocol: Some(b"HTTP/1.1"),
        },
        status: 200,
        bytes: 100,
        referer: None,
        user_agent: None,
        duration: None,
        upstream_duration: None,
        host: None,
    }
}

/// Runs `hits_per_second[t]` hits in each second t from 0, then `quiet` seconds without
/// traffic, and returns the alert changes.
fn alerts(monitor_config: MonitorConfig, hits_per_second: &[u64], quiet: i64) -> Vec<AlertChange> {
    let mut monitor = Monitor::new(monitor_config, 0);
    let mut changes = Vec::new();
    let mut keep = |event| {
        if let MonitorEvent::Alert(change) = event {
            changes.push(change);
        }
    };
    for (second, &hits) in hits_per_second.iter().enumerate() {
        for _ in 0..hits {
            monitor.record(second as i64, &hit(b"/a"));
        }
        monitor.advance_to(second as i64 + 1, &mut keep);
    }
    monitor.advance_to(hits_per_second.len() as i64 + quiet, &mut keep);
    changes
}

fn change(state: AlertState, hits: u64, window: u32, time: i64) -> AlertChange {
    AlertChange {
        state,
        hits,
        rate: hits as f64 / f64::from(window),
        time,
    }
}

#[test]
fn fires_on_the_first_second_the_average_exceeds_and_recovers_on_the_first_it_does_not() {
    // 11 hits a second for 200 s. Over 120 s: 11 × 109 = 1199 ≤ 1200, 11 × 110 = 1210 > 1200.
    let changes = alerts(config(120, 10.0), &[11; 200], 200);
    assert_eq!(
        changes,
        [
            change(AlertState::Firing, 1210, 120, 110),
            // Traffic stops after second 199; at 211 the window holds 109 busy seconds.
            change(AlertState::Resolved, 1199, 120, 211),
        ]
    );
}

#[test]
fn exactly_at_the_threshold_is_no_alert() {
    assert_eq!(alerts(config(120, 10.0), &[10; 600], 0), []);
}

#[test]
fn never_repeats_while_the_state_holds() {
    let mut pattern = vec![50; 300];
    pattern.extend([0; 300]);
    pattern.extend([50; 300]);
    let changes = alerts(config(120, 10.0), &pattern, 300);
    let states: Vec<_> = changes.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [
            AlertState::Firing,
            AlertState::Resolved,
            AlertState::Firing,
            AlertState::Resolved
        ]
    );
}

#[test]
fn recovers_when_traffic_stops_entirely() {
    // A burst, then not one more record: only the clock moves.
    let changes = alerts(config(120, 10.0), &[2000], 1000);
    assert_eq!(
        changes,
        [
            change(AlertState::Firing, 2000, 120, 1),
            change(AlertState::Resolved, 0, 120, 121)
        ]
    );
}

#[test]
fn custom_threshold_and_window() {
    // 30 s window, 2 req/s: fires when hits over 30 s exceed 60.
    let changes = alerts(config(30, 2.0), &[3; 100], 0);
    // 3 × 20 = 60 at second 20 (not above), 3 × 21 = 63 at second 21.
    assert_eq!(changes, [change(AlertState::Firing, 63, 30, 21)]);
    let fractional = alerts(config(10, 0.5), &[1, 1, 1, 1, 1, 1], 0);
    // Over 10 s: 5 hits is exactly 0.5/s, 6 is above.
    assert_eq!(fractional, [change(AlertState::Firing, 6, 10, 6)]);
}

#[test]
fn late_hits_count_in_the_first_open_second() {
    let mut monitor = Monitor::new(config(10, 0.5), 0);
    monitor.advance_to(5, &mut |_| {});
    for _ in 0..6 {
        monitor.record(1, &hit(b"/late"));
    }
    let mut changes = Vec::new();
    monitor.advance_to(6, &mut |e| changes.push(e));
    assert!(
        matches!(
            changes[..],
            [MonitorEvent::Alert(AlertChange {
                hits: 6,
                time: 6,
                ..
            })]
        ),
        "{changes:?}"
    );
}

#[test]
fn stats_cover_each_interval_and_account_for_every_hit() {
    let mut monitor = Monitor::new(config(120, 10.0), 3);
    let targets: [&'static [u8]; 4] = [b"/api/a", b"/api/b", b"/static/x.css", b"/"];
    let mut written = 0;
    for second in 3..35 {
        for (i, target) in targets.iter().enumerate() {
            if (second as usize + i) % 3 != 0 {
                monitor.record(second, &hit(target));
                written += 1;
            }
        }
    }
    let mut reports = Vec::new();
    monitor.finish(35, &mut |event| {
        if let MonitorEvent::Stats(report) = event {
            reports.push(report);
        }
    });
    let spans: Vec<_> = reports.iter().map(|r| (r.start, r.end)).collect();
    assert_eq!(spans, [(3, 10), (10, 20), (20, 30), (30, 35)]);
    assert_eq!(reports.iter().map(|r| r.hits).sum::<u64>(), written);
    let first = &reports[1];
    assert_eq!(first.top_sections[0].0, "/api");
    assert_eq!(
        first.top_sections.iter().map(|s| s.1).sum::<u64>(),
        first.hits
    );
    assert_eq!(first.status_classes[2], first.hits);
    assert_eq!(first.methods, [("GET", first.hits)]);
    assert_eq!(first.top_clients, [("192.0.2.1".to_owned(), first.hits)]);
}

#[test]
fn an_interval_without_traffic_is_reported_empty() {
    let mut monitor = Monitor::new(config(120, 10.0), 0);
    let mut reports = Vec::new();
    monitor.advance_to(20, &mut |event| reports.push(event));
    assert_eq!(reports.len(), 2);
    assert!(reports
        .iter()
        .all(|e| matches!(e, MonitorEvent::Stats(r) if r.hits == 0)));
}

#[test]
fn sections_per_interval_are_bounded() {
    let mut stats = IntervalStats::new(2);
    for target in [&b"/a"[..], b"/b", b"/c", b"/d", b"/a"] {
        stats.add(&hit(target));
    }
    let report = stats.report(0, 10, 10);
    assert_eq!(
        report.top_sections,
        [
            ("(other)".to_owned(), 2),
            ("/a".to_owned(), 2),
            ("/b".to_owned(), 1)
        ]
    );
}

#[test]
fn the_alert_text_is_exactly_as_specified() {
    let renderer = Renderer {
        format: OutputFormat::Text,
        local_time: false,
        bell: false,
    };
    let mut out = Vec::new();
    let fired = change(AlertState::Firing, 1210, 120, 1_795_510_920);
    renderer
        .write(&MonitorEvent::Alert(fired), &mut out)
        .unwrap();
    renderer
        .write(
            &MonitorEvent::Alert(change(AlertState::Resolved, 1199, 120, 1_795_511_021)),
            &mut out,
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "High traffic generated an alert - hits = 1210, triggered at 2026-11-24T09:02:00Z\n\
         High traffic alert recovered - hits = 1199, recovered at 2026-11-24T09:03:41Z\n"
    );
    let mut rung = Vec::new();
    Renderer {
        bell: true,
        ..renderer
    }
    .write(&MonitorEvent::Alert(fired), &mut rung)
    .unwrap();
    assert!(rung.starts_with(b"\x07High traffic generated an alert"));
}

#[test]
fn json_lines_carry_the_specified_fields() {
    let renderer = Renderer {
        format: OutputFormat::Json,
        local_time: false,
        bell: true,
    };
    let mut out = Vec::new();
    renderer
        .write(
            &MonitorEvent::Alert(change(AlertState::Firing, 1210, 120, 0)),
            &mut out,
        )
        .unwrap();
    let mut stats = IntervalStats::new(10);
    stats.add(&hit(b"/api/x"));
    renderer
        .write(&MonitorEvent::Stats(stats.report(0, 10, 5)), &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"type": "alert", "state": "firing", "hits": 1210, "rate": 1210.0 / 120.0, "time": "1970-01-01T00:00:00Z"})
    );
    assert_eq!(lines[1]["type"], "stats");
    assert_eq!(lines[1]["start"], "1970-01-01T00:00:00Z");
    assert_eq!(lines[1]["end"], "1970-01-01T00:00:10Z");
    assert_eq!(lines[1]["hits"], 1);
    assert_eq!(lines[1]["top_sections"][0]["section"], "/api");
    assert!(!text.contains('\x07'), "no bell in JSON");
}

proptest::proptest! {
    /// Counting the latest second and interval outside their maps changes nothing: a monitor
    /// made to put every hit in the maps at once (`advance_to` its own clock does only that)
    /// says the same, for hits out of order, across intervals and before or after time moves.
    #[test]
    fn the_latest_second_and_interval_count_as_the_maps_do(
        steps in proptest::collection::vec((0..45i64, 0..4usize, proptest::prelude::any::<bool>()), 0..200),
    ) {
        let targets: [&'static [u8]; 4] = [b"/a", b"/b/c", b"/d", b"/"];
        let mut cached = Monitor::new(config(5, 0.5), 100);
        let mut settled = Monitor::new(config(5, 0.5), 100);
        let (mut said_cached, mut said_settled) = (Vec::new(), Vec::new());
        let mut now = 100;
        for (offset, target, advance) in steps {
            let record = hit(targets[target]);
            cached.record(100 + offset, &record);
            settled.record(100 + offset, &record);
            let clock = settled.clock();
            settled.advance_to(clock, &mut |event| said_settled.push(event));
            if advance {
                now += 1;
                cached.advance_to(now, &mut |event| said_cached.push(event));
                settled.advance_to(now, &mut |event| said_settled.push(event));
            }
        }
        cached.finish(150, &mut |event| said_cached.push(event));
        settled.finish(150, &mut |event| said_settled.push(event));
        proptest::prop_assert_eq!(said_cached, said_settled);
    }
}

/// Replays one hit at each of `seconds` (log time) and returns what the monitor says, as text.
fn replay_text(monitor_config: MonitorConfig, seconds: &[i64]) -> String {
    let renderer = Renderer {
        format: OutputFormat::Text,
        local_time: false,
        bell: false,
    };
    let mut replay = ReplayMonitor::new(monitor_config, renderer, Vec::new(), 2);
    for &second in seconds {
        let mut record = hit(b"/a");
        record.timestamp.unix_seconds = second;
        replay.record(&record);
    }
    String::from_utf8(replay.finish().into_inner()).unwrap()
}

fn clock_jumps(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("Clock jump"))
        .collect()
}

const NTP_SYNC: i64 = 1_795_510_800; // 2026-11-24T09:00:00Z

#[test]
fn log_time_jumping_forward_is_said_once_and_the_alert_window_starts_again() {
    // Firing on 1970 traffic (3 hits a second over a 10 s window, threshold 2), then the clock
    // is set to 2026 and one hit a second follows.
    let before: Vec<i64> = (0..30).flat_map(|s| [s, s, s]).collect();
    let after: Vec<i64> = (0..30).map(|s| NTP_SYNC + s).collect();
    let text = replay_text(config(10, 2.0), &[before, after].concat());
    assert_eq!(
        clock_jumps(&text),
        [
            "Clock jump: log time went from 1970-01-01T00:00:29Z to 2026-11-24T09:00:00Z; \
          the alert window starts again"
        ],
        "{text}"
    );
    let (before_jump, after_jump) = text.split_once("Clock jump").unwrap();
    assert!(
        before_jump.contains("triggered at 1970-01-01T00:00:"),
        "{text}"
    );
    // The window starts empty at the new time: 1 hit a second is under the threshold at once.
    assert!(
        after_jump.contains("recovered at 2026-11-24T09:00:01Z"),
        "{text}"
    );
    // No report spans the 56 years.
    assert!(!text.contains("1970-01-01T00:00:30Z → 2026"), "{text}");
}

#[test]
fn log_time_set_back_is_said_once_but_a_single_late_line_is_not() {
    let late_line = replay_text(
        config(10, 2.0),
        &[NTP_SYNC, NTP_SYNC + 5, NTP_SYNC - 600, NTP_SYNC + 6],
    );
    assert!(!late_line.contains("Clock jump"), "{late_line}");

    let on_time: Vec<i64> = (0..20).map(|s| NTP_SYNC + s).collect();
    let set_back: Vec<i64> = (0..20).map(|s| NTP_SYNC - 3600 + s).collect();
    let text = replay_text(config(10, 2.0), &[on_time, set_back].concat());
    assert_eq!(
        clock_jumps(&text),
        [
            "Clock jump: log time went from 2026-11-24T09:00:19Z to 2026-11-24T08:00:01Z; \
          the alert window starts again"
        ],
        "{text}"
    );
    // The hour set back is reported on its own time, not piled into one second.
    assert!(
        text.contains("2026-11-24T08:00:10Z → 2026-11-24T08:00:20Z  10 hits"),
        "{text}"
    );
    assert!(!text.contains("High traffic generated an alert"), "{text}");
}

#[test]
fn the_wall_clock_jump_is_what_it_moved_apart_from_the_time_that_passed() {
    use std::time::{Duration, Instant, UNIX_EPOCH};
    let start = drivers::WallClock {
        instant: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(60),
    };
    let later = |passed: u64, wall: u64| drivers::WallClock {
        instant: start.instant + Duration::from_secs(passed),
        wall: UNIX_EPOCH + Duration::from_secs(wall),
    };
    assert_eq!(start.jump_to(&later(10, 70)), None);
    assert_eq!(
        start.jump_to(&later(10, 74)),
        None,
        "NTP slews and late ticks"
    );
    let jump = |from, to| {
        Some(ClockJump {
            clock: Clock::System,
            from,
            to,
        })
    };
    assert_eq!(start.jump_to(&later(10, 3_600)), jump(70, 3_600));
    assert_eq!(start.jump_to(&later(10, 30)), jump(70, 30));
}

#[test]
fn sections_show_their_median_and_99th_percentile_time_where_the_format_has_times() {
    let mut stats = IntervalStats::new(10);
    for millis in 1..=100u64 {
        let mut record = hit(b"/api/x");
        record.duration = Some(std::time::Duration::from_millis(millis));
        stats.add(&record);
    }
    stats.add(&hit(b"/untimed"));
    let report = stats.report(0, 10, 3);
    assert_eq!(report.top_sections[0], ("/api".to_owned(), 100));
    let [p50, p99] = report.section_times[0].expect("times of /api");
    // Rounded up to the bucket's edge: within 9% above the truth.
    assert!((0.050..=0.050 * 1.09).contains(&p50), "{p50}");
    assert!((0.099..=0.099 * 1.09).contains(&p99), "{p99}");
    assert_eq!(report.section_times[1], None, "no times for /untimed");

    let text = |format| {
        let mut out = Vec::new();
        Renderer {
            format,
            local_time: false,
            bell: false,
        }
        .write(&MonitorEvent::Stats(report.clone()), &mut out)
        .unwrap();
        String::from_utf8(out).unwrap()
    };
    let plain = text(OutputFormat::Text);
    assert!(plain.contains("    p50     p99"), "{plain}");
    assert!(
        plain.contains("  /api                             100  99.0%    50ms   101ms   192.0.2.1"),
        "{plain}"
    );
    let json: serde_json::Value = serde_json::from_str(text(OutputFormat::Json).trim()).unwrap();
    assert_eq!(json["top_sections"][0]["p50_seconds"], p50);
    assert!(json["top_sections"][1].get("p50_seconds").is_none());

    let mut untimed = IntervalStats::new(10);
    untimed.add(&hit(b"/a"));
    let report = untimed.report(0, 10, 3);
    let mut out = Vec::new();
    Renderer {
        format: OutputFormat::Text,
        local_time: false,
        bell: false,
    }
    .write(&MonitorEvent::Stats(report), &mut out)
    .unwrap();
    assert!(
        !String::from_utf8(out).unwrap().contains("p50"),
        "no column without times"
    );
}
