use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::monitor::{AlertChange, AlertState, OutputFormat, SecondClosed};

const START: i64 = 1_795_510_800; // 2026-11-24T09:00:00Z

fn dashboard() -> Dashboard {
    Dashboard::new(
        "replay",
        MonitorConfig {
            interval_seconds: 10,
            window_seconds: 120,
            threshold: 10.0,
            top: 5,
            max_sections: 100,
        },
        Renderer {
            format: OutputFormat::Text,
            local_time: false,
            bell: false,
        },
        vec!["/var/log/nginx/access.log".to_owned()],
    )
}

/// `seconds` of `hits` each from `start`, as the monitor says them over a 120 s window.
fn traffic(dashboard: &mut Dashboard, start: i64, seconds: i64, hits: u64) {
    for time in start..start + seconds {
        dashboard.apply(&MonitorEvent::Second(SecondClosed {
            time,
            hits,
            window_hits: hits * 120,
        }));
    }
}

fn report(end: i64, times: bool) -> IntervalReport {
    IntervalReport {
        start: end - 10,
        end,
        hits: 1500,
        bytes: 3_000_000,
        status_classes: [0, 0, 1200, 100, 150, 50],
        methods: vec![("GET", 1400), ("POST", 100)],
        top_sections: vec![("/api".to_owned(), 900), ("/static".to_owned(), 600)],
        section_times: match times {
            true => vec![Some([0.012, 0.25]), Some([0.0009, 0.004])],
            false => vec![None, None],
        },
        top_clients: vec![("198.51.100.7".to_owned(), 700)],
    }
}

fn alert(state: AlertState, time: i64, hits: u64) -> MonitorEvent {
    MonitorEvent::Alert(AlertChange {
        state,
        hits,
        rate: hits as f64 / 120.0,
        time,
    })
}

/// The screen's text, a line a row.
fn drawn(dashboard: &Dashboard, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view::draw(frame, dashboard)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let cells = (0..width).map(|x| buffer[(x, y)].symbol().to_owned());
            cells.collect::<String>().trim_end().to_owned()
        })
        .collect()
}

fn firing() -> Dashboard {
    firing_with(1801)
}

fn firing_with(hits: u64) -> Dashboard {
    let mut dashboard = dashboard();
    traffic(&mut dashboard, START, 200, 15);
    dashboard.apply(&alert(AlertState::Firing, START + 120, hits));
    dashboard.apply(&MonitorEvent::Stats(report(START + 200, false)));
    dashboard
}

#[test]
fn a_firing_alert_shows_the_console_sentence_whole_on_a_wide_terminal() {
    let screen = drawn(&firing(), 160, 40);
    let sentence =
        "High traffic generated an alert - hits = 1801, triggered at 2026-11-24T09:02:00Z";
    assert_eq!(screen[1], sentence, "{screen:#?}");
    let text = screen.join("\n");
    assert!(text.contains("alerts: 1"), "{text}");
    assert!(
        text.contains("fired 2026-11-24T09:02:00Z (1801 hits)  firing"),
        "{text}"
    );
    assert!(text.contains("/api"), "{text}");
    assert!(text.contains("60.0%"), "{text}");
    assert!(text.contains("2xx 1200 3xx 100 4xx 150 5xx 50"), "{text}");
    assert!(text.contains("GET 1400 POST 100"), "{text}");
    assert!(text.contains("198.51.100.7"), "{text}");
    assert!(text.contains("/var/log/nginx/access.log"), "{text}");
    assert!(!text.contains("p50"), "no times without durations: {text}");
}

#[test]
fn a_narrow_terminal_wraps_the_sentence_and_keeps_every_part() {
    let screen = drawn(&firing_with(180_100), 80, 24);
    let sentence =
        "High traffic generated an alert - hits = 180100, triggered at 2026-11-24T09:02:00Z";
    // 82 characters on 80 columns: two lines, broken between words.
    assert_eq!(
        format!("{} {}", screen[1], screen[2]),
        sentence,
        "{screen:#?}"
    );
    let text = screen.join("\n");
    for part in [
        "requests per second",
        "last report",
        "/api",
        "2xx 1200 3xx 100 4xx 150 5xx 50",
        "alerts: 1",
        "since start: 1500 hits",
    ] {
        assert!(text.contains(part), "{part} missing at 80x24:\n{text}");
    }
}

#[test]
fn a_recovered_alert_shows_the_recovery_and_keeps_the_firing_time() {
    let mut dashboard = firing();
    dashboard.apply(&alert(AlertState::Resolved, START + 400, 1100));
    dashboard.apply(&alert(AlertState::Firing, START + 500, 1300));
    dashboard.apply(&alert(AlertState::Resolved, START + 600, 900));
    let screen = drawn(&dashboard, 120, 30);
    assert_eq!(
        screen[1],
        "High traffic alert recovered - hits = 900, recovered at 2026-11-24T09:10:00Z"
    );
    let text = screen.join("\n");
    assert!(text.contains("alerts: 2"), "{text}");
    // Newest first, each with both of its times.
    let newest = text
        .find("fired 2026-11-24T09:08:20Z (1300 hits)  recovered 2026-11-24T09:10:00Z (900 hits)")
        .expect(&text);
    let oldest = text
        .find("fired 2026-11-24T09:02:00Z (1801 hits)  recovered 2026-11-24T09:06:40Z (1100 hits)")
        .expect(&text);
    assert!(newest < oldest);
}

#[test]
fn durations_show_as_p50_and_p99_per_section() {
    let mut dashboard = dashboard();
    dashboard.apply(&MonitorEvent::Stats(report(START + 10, true)));
    let text = drawn(&dashboard, 120, 30).join("\n");
    assert!(text.contains("p50"), "{text}");
    assert!(text.contains("12ms"), "{text}");
    assert!(text.contains("250ms"), "{text}");
    assert!(text.contains("900µs"), "{text}");
}

#[test]
fn before_any_alert_the_banner_gives_the_average_and_the_threshold() {
    let mut dashboard = dashboard();
    traffic(&mut dashboard, START, 30, 3);
    let screen = drawn(&dashboard, 100, 30);
    assert_eq!(
        screen[1],
        "No alert: 2m average 3.0 req/s, threshold 10 req/s"
    );
    assert!(screen[0].contains("2026-11-24T09:00:30Z"), "{}", screen[0]);
    // A window gone by without a second said is empty.
    dashboard.apply(&MonitorEvent::Stats(IntervalReport {
        hits: 0,
        ..report(START + 1000, false)
    }));
    assert_eq!(dashboard.average_rate(), 0.0);
}

#[test]
fn the_chart_keeps_the_last_ten_minutes() {
    let mut dashboard = dashboard();
    traffic(&mut dashboard, START, 1000, 1);
    assert_eq!(dashboard.seconds.len(), CHART_SECONDS as usize);
    assert_eq!(dashboard.seconds.front().unwrap().time, START + 400);
}

#[test]
fn markers_and_keys_show_in_the_title_and_over_the_screen() {
    let mut dashboard = firing();
    dashboard.marker = Some("end of log");
    dashboard.help = true;
    let text = drawn(&dashboard, 80, 24).join("\n");
    assert!(text.contains("[end of log]"), "{text}");
    for (key, what) in view::KEYS {
        assert!(text.contains(key) && text.contains(what), "{key}: {text}");
    }
}

#[test]
fn wrapping_breaks_between_words_and_cuts_a_word_longer_than_a_line() {
    assert_eq!(view::wrap("ab cd ef", 5), ["ab cd", "ef"]);
    assert_eq!(view::wrap("abcdefgh ij", 3), ["abc", "def", "gh", "ij"]);
    assert_eq!(view::wrap("", 3), [""]);
}
