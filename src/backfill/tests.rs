use std::collections::HashMap;

use super::*;
use crate::metrics::SeriesLimits;
use crate::tail::TailSink;

fn clf(second: i64, section: &str) -> String {
    let time = jiff::Timestamp::from_second(second).unwrap();
    let text = time.strftime("%d/%b/%Y:%H:%M:%S +0000");
    format!("10.0.0.1 - - [{text}] \"GET /{section}/x HTTP/1.1\" 200 5")
}

/// Backfills `lines` (already cut) and returns the series and their samples.
fn backfill(lines: &[String], tolerance: i64) -> (String, HashMap<String, Vec<(i64, f64)>>) {
    let mut writer = Writer::new(
        Vec::new(),
        Sampling {
            step: 5,
            tolerance,
            target_labels: "job=\"j\",instance=\"i\"".into(),
        },
    );
    let metrics = Exposition::new().unwrap().log(None).unwrap();
    let mut sampler = Sampler::new(
        &mut writer,
        metrics,
        LogFormat::Common,
        SeriesLimits::default(),
    );
    for line in lines {
        sampler.line(line.as_bytes());
    }
    sampler.finish().unwrap();
    let text = String::from_utf8(writer.finish().unwrap()).unwrap();
    let mut series: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let mut parts = line.rsplitn(3, ' ');
        let time = parts.next().unwrap().parse().unwrap();
        let value = parts.next().unwrap().parse().unwrap();
        series
            .entry(parts.next().unwrap().to_owned())
            .or_default()
            .push((time, value));
    }
    (text, series)
}

proptest::proptest! {
    // Each case writes hundreds of samples.
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever the order and gaps of the lines: each series' samples are in strictly
    /// increasing time, counters never fall and start at 0, and the last count is every line.
    #[test]
    fn samples_are_ordered_counters_start_at_zero_and_end_on_every_line(
        gaps in proptest::collection::vec(0..40i64, 1..200),
        jitter in proptest::collection::vec(-12..3i64, 200),
        silence in 0..100_000i64,
    ) {
        let mut time = 1_800_000_000;
        let mut lines = Vec::new();
        for (i, gap) in gaps.iter().enumerate() {
            time += gap + if i == gaps.len() / 2 { silence } else { 0 };
            let section = ["a", "b", "c"][i % 3];
            lines.push(clf(time + jitter[i], section));
        }
        let (text, series) = backfill(&lines, 10);
        proptest::prop_assert!(text.ends_with("# EOF\n"));
        proptest::prop_assert!(
            text.contains("# HELP accesslog_http_requests HTTP requests read from the access log.\n# TYPE accesslog_http_requests counter\n"),
            "{}", text
        );
        let mut total = 0.0;
        for (name, samples) in &series {
            for pair in samples.windows(2) {
                proptest::prop_assert!(pair[0].0 < pair[1].0, "{name}: {samples:?}");
                if name.contains("_total") {
                    proptest::prop_assert!(pair[0].1 <= pair[1].1, "{name}: {samples:?}");
                }
            }
            if name.starts_with("accesslog_http_requests_total") {
                proptest::prop_assert_eq!(samples[0].1, 0.0, "{}", name);
                total += samples.last().unwrap().1;
            }
        }
        proptest::prop_assert_eq!(total, lines.len() as f64);
    }
}

#[test]
fn a_silence_costs_no_samples() {
    let mut lines: Vec<String> = (0..10).map(|i| clf(1_800_000_000 + i, "a")).collect();
    lines.extend((0..10).map(|i| clf(1_900_000_000 + i, "a")));
    let (_, series) = backfill(&lines, 0);
    let requests = (series.iter())
        .find(|(name, _)| name.starts_with("accesslog_http_requests_total"))
        .unwrap()
        .1;
    // Two bursts of a few steps each and their trails: not the 3 years between.
    assert!(
        requests.len() < 2 * (TRAIL_SECONDS as usize / 5 + 10),
        "{}",
        requests.len()
    );
    // The second burst starts from the first's count, at the step its lines count after.
    let resumed = requests
        .iter()
        .find(|(time, _)| *time >= 1_900_000_000 - 5)
        .unwrap();
    assert_eq!(*resumed, (1_900_000_000, 10.0), "{requests:?}");
}

#[test]
fn rotated_files_belong_to_their_live_file() {
    for (rotated, live) in [
        ("/l/access.log", "/l/access.log"),
        ("/l/access.log.1", "/l/access.log"),
        ("/l/access.log.2.gz", "/l/access.log"),
        ("/l/access.log-20261201", "/l/access.log"),
        ("/l/access.log-20261201.gz", "/l/access.log"),
        ("/l/2026-12.log", "/l/2026-12.log"),
    ] {
        assert_eq!(live_file(Path::new(rotated)), Path::new(live), "{rotated}");
    }
    let sources = vec![
        crate::logs::LogSource::parse("shop=/l/shop.log").unwrap(),
        crate::logs::LogSource::parse("/l/*.log*").unwrap(),
    ];
    let paths: Vec<std::path::PathBuf> = [
        "/l/shop.log",
        "/l/shop.log.1.gz",
        "/l/blog.log",
        "/l/blog.log.1",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .collect();
    let logs: Vec<(Option<String>, usize)> = logs_of(&paths, &sources)
        .into_iter()
        .map(|log| (log.name, log.files.len()))
        .collect();
    assert_eq!(logs, [(Some("shop".into()), 2), (Some("blog".into()), 2)]);
}
