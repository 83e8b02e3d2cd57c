//! The whole pipeline on arbitrary bytes: cut into lines as the tailer cuts a file read in two
//! pieces, parsed in a format chosen by the first byte, counted into metrics with small caps
//! (so the overflow paths are taken), and scraped.
//!
//! Nothing may panic, and every line read must be exactly one of a request, a parse error or
//! a directive: `lines read = requests + parse errors + directives`, and lines read is the
//! number of lines in the input.
//!
//! Run: `cargo fuzz run pipeline` (see the README).
#![no_main]

use accesslog_exporter::ingest::Ingest;
use accesslog_exporter::metrics::{ExporterMetrics, SeriesLimits};
use accesslog_exporter::parse::{Dialect, JsonKeys, LogFormat, Template};
use std::sync::{Arc, LazyLock};
use accesslog_exporter::tail::{LineSplitter, TailSink};
use libfuzzer_sys::fuzz_target;

static FORMATS: LazyLock<[LogFormat; 6]> = LazyLock::new(|| {
    let nginx = accesslog_exporter::generate::NGINX_TIMED_FORMAT;
    [
        LogFormat::Auto,
        LogFormat::Common,
        LogFormat::Combined,
        LogFormat::W3c,
        LogFormat::Template(Arc::new(Template::compile(Dialect::Nginx, nginx).unwrap())),
        LogFormat::Json(Arc::new(JsonKeys::default())),
    ]
});

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector % 6)].clone();
    let metrics = ExporterMetrics::new().expect("metrics register");
    let limits = SeriesLimits {
        sections: 4,
        statuses: 3,
        series: 10,
        histogram_series: 8,
        hosts: None,
    };
    let mut ingest = Ingest::exporter(format, metrics.clone(), limits);
    let mut splitter = LineSplitter::new(256);
    let cut = usize::from(selector / 6) * data.len() / 43;
    splitter.push(&data[..cut], &mut ingest);
    splitter.push(&data[cut..], &mut ingest);
    splitter.finish(&mut ingest);
    ingest.polled();

    let text = metrics.encode();
    let sum = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let lines_read = sum("accesslog_lines_read_total");
    assert_eq!(
        lines_read,
        sum("accesslog_http_requests_total")
            + sum("accesslog_parse_errors_total")
            + sum("accesslog_directives_total"),
        "{text}"
    );
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    let unfinished = data.last().is_some_and(|&b| b != b'\n');
    assert_eq!(lines_read, (newlines + usize::from(unfinished)) as u64);
});
