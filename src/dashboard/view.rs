//! The dashboard drawn: a title line, the alert banner, the request rate over the last 10
//! minutes with the threshold and the window's average, the last report, the alerts so far and
//! the totals. Everything comes from the [`Dashboard`]; nothing here reads a clock or the
//! terminal, so a test draws it on a buffer of any size.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Clear, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::{Dashboard, CHART_SECONDS};
use crate::monitor::{human_bytes, human_seconds, shorten, AlertState, IntervalReport};

/// The keys, as `?` shows them.
pub const KEYS: [(&str, &str); 5] = [
    ("q, Esc, Ctrl-C", "quit"),
    ("p", "freeze the display, or show it live"),
    ("space", "pause or play a replay"),
    ("→", "step a replay one report"),
    ("?", "show or hide the keys"),
];

/// Alerts the history shows at least, when there are as many.
const HISTORY_ROWS: usize = 3;

/// Draws `dashboard` on the whole frame.
pub fn draw(frame: &mut Frame<'_>, dashboard: &Dashboard) {
    let area = frame.area();
    let width = usize::from(area.width);
    let (banner, banner_rows) = banner(dashboard, width);
    let report_rows = dashboard.config.top.clamp(3, 10) as u16;
    let history_rows = dashboard
        .alerts
        .len()
        .min(HISTORY_ROWS.max(usize::from(area.height) / 8)) as u16;
    let [title, banner_area, chart, report, history, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_rows),
        Constraint::Min(6),
        Constraint::Length(report_rows + 3),
        Constraint::Length(history_rows + 1),
        Constraint::Length(2),
    ])
    .areas(area);
    frame.render_widget(title_line(dashboard), title);
    frame.render_widget(banner, banner_area);
    draw_chart(frame, dashboard, chart);
    draw_report(frame, dashboard, report, usize::from(report_rows));
    frame.render_widget(history_list(dashboard, usize::from(history_rows)), history);
    frame.render_widget(footer_lines(dashboard), footer);
    if dashboard.help {
        draw_keys(frame, area);
    }
}

fn title_line(dashboard: &Dashboard) -> Paragraph<'static> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut spans = vec![Span::styled(
        format!("accesslog-exporter {}", dashboard.command),
        bold,
    )];
    if let Some(marker) = dashboard.marker {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            format!("[{marker}]"),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if let Some(now) = dashboard.now {
        spans.push(Span::raw(format!("  {}", dashboard.renderer.time(now))));
    }
    spans.push(Span::raw(format!(
        "  threshold {} req/s over {}  ? keys",
        dashboard.config.threshold,
        span_text(dashboard.config.window_seconds)
    )));
    Paragraph::new(Line::from(spans))
}

/// The alert's state, wrapped to `width`: the console's sentence while firing and after.
fn banner(dashboard: &Dashboard, width: usize) -> (Paragraph<'static>, u16) {
    let (text, style) = match dashboard.alert() {
        Some(change) => {
            let sentence = dashboard.renderer.alert_sentence(change);
            let style = match change.state {
                AlertState::Firing => Style::new().fg(Color::White).bg(Color::Red),
                AlertState::Resolved => Style::new().fg(Color::Black).bg(Color::Green),
            };
            (sentence, style.add_modifier(Modifier::BOLD))
        }
        None => (
            format!(
                "No alert: {} average {:.1} req/s, threshold {} req/s",
                span_text(dashboard.config.window_seconds),
                dashboard.average_rate(),
                dashboard.config.threshold
            ),
            Style::new(),
        ),
    };
    let lines: Vec<Line> = wrap(&text, width).into_iter().map(Line::from).collect();
    let rows = lines.len() as u16;
    (Paragraph::new(lines).style(style), rows)
}

/// `text` in lines of at most `width` characters, broken between words where it can be.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        loop {
            let room = match line.is_empty() {
                true => width,
                false => width.saturating_sub(line.chars().count() + 1),
            };
            if word.chars().count() <= room {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if line.is_empty() {
                // A word longer than a line: cut it.
                let cut: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                lines.push(cut);
                continue;
            }
            lines.push(std::mem::take(&mut line));
        }
    }
    lines.push(line);
    lines
}

/// Requests a second over the last [`CHART_SECONDS`], with the threshold and the window's
/// average drawn over them.
fn draw_chart(frame: &mut Frame<'_>, dashboard: &Dashboard, area: Rect) {
    let now = dashboard.now.unwrap_or(0);
    let window = f64::from(dashboard.config.window_seconds);
    let start = now - CHART_SECONDS;
    let first = (dashboard.seconds.front()).map_or(now, |second| second.time.max(start));
    // Seconds passed over without traffic are drawn as such.
    let span = (now - first).max(0) as usize;
    let mut rate: Vec<(f64, f64)> = (0..span)
        .map(|i| ((first + i as i64 + 1 - now) as f64, 0.0))
        .collect();
    let mut average = rate.clone();
    for second in &dashboard.seconds {
        if let Some(i) = usize::try_from(second.time - first)
            .ok()
            .filter(|&i| i < span)
        {
            rate[i].1 = second.hits as f64;
            average[i].1 = second.window_hits as f64 / window;
        }
    }
    let threshold = dashboard.config.threshold;
    let limit = [(-CHART_SECONDS as f64, threshold), (0.0, threshold)];
    let highest = (rate.iter().chain(&average))
        .map(|&(_, value)| value)
        .fold(threshold, f64::max);
    let top = (highest * 1.15).max(1.0);
    let line = |name: String, color: Color, data| {
        Dataset::default()
            .name(name)
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(color))
            .data(data)
    };
    let window = span_text(dashboard.config.window_seconds);
    let datasets = vec![
        line("req/s".to_owned(), Color::Cyan, &rate),
        line(format!("{window} average"), Color::Yellow, &average),
        line("threshold".to_owned(), Color::Red, &limit),
    ];
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(format!(
            "requests per second, {window} average and threshold, last 10 minutes"
        )))
        .x_axis(
            Axis::default()
                .bounds([-CHART_SECONDS as f64, 0.0])
                .labels(["-10m", "-5m", "now"]),
        )
        .y_axis(Axis::default().bounds([0.0, top]).labels([
            "0".to_owned(),
            format!("{:.0}", top / 2.0),
            format!("{top:.0}"),
        ]));
    frame.render_widget(chart, area);
}

/// The last report: top sections with a bar for their share (and times where the format
/// records them) on the left; rate, bytes, status classes, methods and clients on the right.
fn draw_report(frame: &mut Frame<'_>, dashboard: &Dashboard, area: Rect, rows: usize) {
    let title = match &dashboard.report {
        Some(report) => format!(
            "last report: {} → {}",
            dashboard.renderer.time(report.start),
            dashboard.renderer.time(report.end)
        ),
        None => "last report: none yet".to_owned(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(report) = &dashboard.report else {
        return;
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(inner);
    frame.render_widget(
        Paragraph::new(section_lines(report, usize::from(left.width), rows + 1)),
        left,
    );
    frame.render_widget(Paragraph::new(totals_lines(report, rows + 1)), right);
}

fn section_lines(report: &IntervalReport, width: usize, rows: usize) -> Vec<Line<'static>> {
    if report.hits == 0 {
        return vec![Line::from("no traffic")];
    }
    let timed = report.section_times.iter().any(Option::is_some);
    let times_width = if timed { 16 } else { 0 };
    let name_width = 20.min(width.saturating_sub(14 + times_width + 4)).max(8);
    let bar_width = width.saturating_sub(name_width + 14 + times_width + 2);
    let mut header = format!("{:<name_width$} {:>6} {:>6}", "section", "hits", "share");
    if timed {
        header.push_str(&format!(" {:>7} {:>7}", "p50", "p99"));
    }
    let mut lines = vec![Line::styled(
        header,
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (row, (name, hits)) in report.top_sections.iter().enumerate().take(rows - 1) {
        let share = *hits as f64 / report.hits as f64;
        let mut text = format!(
            "{:<name_width$} {hits:>6} {:>5.1}%",
            shorten(name, name_width),
            share * 100.0
        );
        if timed {
            match report.section_times.get(row) {
                Some(Some([p50, p99])) => text.push_str(&format!(
                    " {:>7} {:>7}",
                    human_seconds(*p50),
                    human_seconds(*p99)
                )),
                _ => text.push_str(&" ".repeat(16)),
            }
        }
        let bar = "█".repeat((share * bar_width as f64).round() as usize);
        lines.push(Line::from(vec![
            Span::raw(text + " "),
            Span::styled(bar, Style::new().fg(Color::Cyan)),
        ]));
    }
    lines
}

fn totals_lines(report: &IntervalReport, rows: usize) -> Vec<Line<'static>> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:.1} req/s", report.rate()), bold),
            Span::raw(format!("  {} sent", human_bytes(report.bytes))),
        ]),
        Line::from(report.status_counts().join(" ")),
        Line::from(report.method_counts().join(" ")),
        Line::styled("busiest clients", bold),
    ];
    for (client, hits) in &report.top_clients {
        lines.push(Line::from(format!("{hits:>6} {}", shorten(client, 28))));
    }
    lines.truncate(rows);
    lines
}

/// The alerts so far, newest first: when each fired and recovered.
fn history_list(dashboard: &Dashboard, rows: usize) -> Paragraph<'static> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let count = dashboard.alerts.len();
    let mut lines = vec![Line::styled(
        match count {
            0 => "alerts: none so far".to_owned(),
            1 => "alerts: 1".to_owned(),
            _ if count > rows => format!("alerts: {count} (the last {rows})"),
            _ => format!("alerts: {count}"),
        },
        bold,
    )];
    for alert in dashboard.alerts.iter().rev().take(rows) {
        let time = |change: &crate::monitor::AlertChange| dashboard.renderer.time(change.time);
        let mut spans = vec![
            Span::styled("fired ", Style::new().fg(Color::Red)),
            Span::raw(format!(
                "{} ({} hits)",
                time(&alert.fired),
                alert.fired.hits
            )),
        ];
        match &alert.recovered {
            Some(recovered) => {
                spans.push(Span::styled("  recovered ", Style::new().fg(Color::Green)));
                spans.push(Span::raw(format!(
                    "{} ({} hits)",
                    time(recovered),
                    recovered.hits
                )));
            }
            None => spans.push(Span::styled("  firing", Style::new().fg(Color::Red))),
        }
        lines.push(Line::from(spans));
    }
    Paragraph::new(lines)
}

fn footer_lines(dashboard: &Dashboard) -> Paragraph<'static> {
    let totals = format!(
        "since start: {} hits, {}, {} lines read, {} parse errors  |  {}",
        dashboard.hits,
        human_bytes(dashboard.bytes),
        dashboard.read.lines,
        dashboard.read.parse_errors,
        dashboard.files.join(", ")
    );
    let status = match &dashboard.status {
        Some(status) => Line::styled(status.clone(), Style::new().fg(Color::Yellow)),
        None => Line::from("q quit  p freeze  ? keys"),
    };
    Paragraph::new(vec![Line::from(totals), status])
}

fn draw_keys(frame: &mut Frame<'_>, area: Rect) {
    let width = 56.min(area.width);
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = (KEYS.iter())
        .map(|(key, what)| Line::from(format!("{key:>14}  {what}")))
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title("keys"))
            .alignment(Alignment::Left),
        popup,
    );
}

/// A span of seconds as people say it: `2m`, `90s`.
fn span_text(seconds: u32) -> String {
    match seconds % 60 {
        0 => format!("{}m", seconds / 60),
        _ => format!("{seconds}s"),
    }
}
