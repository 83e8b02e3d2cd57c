use super::*;
use crate::parse::{Line, LineParser, LogFormat};

fn recorder(max_sections: usize) -> RequestRecorder {
    let limits = SeriesLimits {
        sections: max_sections,
        ..SeriesLimits::default()
    };
    RequestRecorder::new(ExporterMetrics::new().unwrap(), limits)
}

fn feed(recorder: &mut RequestRecorder, lines: &[&[u8]]) {
    let mut parser = LineParser::new(LogFormat::Auto);
    for line in lines {
        match parser.parse(line) {
            Ok(Line::Record(r)) => recorder.record(&r),
            Ok(Line::Directive) => {}
            other => panic!("{other:?}"),
        }
    }
    recorder.flush();
}

fn clf(method_target: &str, status: u16, bytes: u64) -> Vec<u8> {
    format!("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"{method_target}\" {status} {bytes}")
        .into_bytes()
}

fn series_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn requests_are_counted_by_section_method_and_status() {
    let mut r = recorder(100);
    let lines = [
        clf("GET /api/user?id=1 HTTP/1.1", 200, 10),
        clf("GET /api/order HTTP/1.1", 200, 20),
        clf("POST /api HTTP/1.1", 201, 30),
        clf("GET http://host/pages/x HTTP/1.1", 404, 40),
        clf("-", 408, 0),
        clf("PROPFIND /dav/x HTTP/1.1", 207, 0),
    ];
    feed(&mut r, &lines.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let text = r.metrics.encode();
    let cases = [
        (
            r#"accesslog_http_requests_total{method="GET",section="/api",status="200"}"#,
            2.0,
        ),
        (
            r#"accesslog_http_requests_total{method="POST",section="/api",status="201"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{method="GET",section="/pages",status="404"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{method="(invalid)",section="(invalid)",status="408"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{method="(other)",section="/dav",status="207"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_response_size_bytes_count{method="GET",section="/api",status_class="2xx"}"#,
            2.0,
        ),
        (
            r#"accesslog_http_response_size_bytes_sum{method="GET",section="/api",status_class="2xx"}"#,
            30.0,
        ),
        (
            r#"accesslog_http_response_size_bytes_count{method="POST",section="/api",status_class="2xx"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_response_size_bytes_count{method="(other)",section="/dav",status_class="2xx"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_response_size_bytes_bucket{method="GET",section="/pages",status_class="4xx",le="100"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_response_size_bytes_bucket{method="(invalid)",section="(invalid)",status_class="4xx",le="100"}"#,
            1.0,
        ),
        ("accesslog_last_record_timestamp_seconds", 971_211_336.0),
    ];
    for (series, want) in cases {
        assert_eq!(series_value(&text, series), Some(want), "{series}\n{text}");
    }
    assert!(
        !text.contains("accesslog_http_request_duration_seconds_count"),
        "no duration in CLF"
    );
}

#[test]
fn sections_past_the_cap_fold_into_the_overflow_value() {
    let mut r = recorder(2);
    let lines: Vec<_> = ["/a/1", "/b/1", "/c/1", "/d/1", "/a/2"]
        .iter()
        .map(|t| clf(&format!("GET {t}"), 200, 1))
        .collect();
    feed(&mut r, &lines.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let text = r.metrics.encode();
    let count = |section: &str| {
        series_value(
            &text,
            &format!(
                r#"accesslog_http_requests_total{{method="GET",section="{section}",status="200"}}"#
            ),
        )
    };
    assert_eq!(
        (count("/a"), count("/b"), count("(other)")),
        (Some(2.0), Some(1.0), Some(2.0))
    );
    assert_eq!(count("/c"), None);
    assert_eq!(r.sections().len(), 2);
}

#[test]
fn exposition_is_valid_utf8_and_escaped_whatever_the_log_holds() {
    let mut r = recorder(100);
    let lines: [&[u8]; 2] = [
        b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /caf\xe9\xff/x HTTP/1.1\" 200 1",
        br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b\\c} HTTP/1.1" 200 1"#,
    ];
    feed(&mut r, &lines);
    let text = r.metrics.encode();
    assert!(text.contains("section=\"/caf\u{fffd}\u{fffd}\""), "{text}");
    assert!(text.contains(r#"section="/a\\\"b\\\\c}""#), "{text}");
}

#[test]
fn durations_are_observed_when_the_format_has_them() {
    let mut r = recorder(100);
    feed(
        &mut r,
        &[
            b"#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes time-taken",
            b"2024-03-01 10:00:00 1.1.1.1 GET /a 500 10 250",
        ],
    );
    let text = r.metrics.encode();
    let sum = series_value(
        &text,
        r#"accesslog_http_request_duration_seconds_sum{method="GET",section="/a",status_class="5xx"}"#,
    );
    assert_eq!(sum, Some(0.25));
}

#[test]
fn health_series_exist_from_the_start() {
    let metrics = ExporterMetrics::new().unwrap();
    let text = metrics.encode();
    for series in [
        r#"accesslog_parse_errors_total{reason="syntax"}"#,
        r#"accesslog_parse_errors_total{reason="too_long"}"#,
        r#"accesslog_log_rotations_total{kind="rename"}"#,
        "accesslog_lines_read_total",
        "accesslog_bytes_read_total",
        "accesslog_log_file_open",
    ] {
        assert_eq!(series_value(&text, series), Some(0.0), "{series}");
    }
    assert!(text.contains(&format!(
        "accesslog_exporter_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn every_request_counts_within_the_series_bound_whatever_the_labels() {
    let limits = SeriesLimits {
        sections: 3,
        statuses: 4,
        series: 20,
        histogram_series: 12,
        hosts: None,
    };
    let mut r = RequestRecorder::new(ExporterMetrics::new().unwrap(), limits);
    let mut rng = fastrand::Rng::with_seed(7);
    let methods = ["GET", "POST", "PROPFIND", "get", "BREW"];
    let total = 5_000;
    for _ in 0..total {
        let line = clf(
            &format!(
                "{} /s{}/x HTTP/1.1",
                methods[rng.usize(..methods.len())],
                rng.u32(..50)
            ),
            rng.u16(100..1000),
            rng.u64(..1_000_000),
        );
        feed(&mut r, &[&line]);
    }
    let text = r.metrics.encode();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("accesslog_http_requests_total{"))
        .collect();
    assert!(
        series.len() <= limits.max_request_series(),
        "{} series",
        series.len()
    );
    assert!(series.len() > limits.series, "the cap was reached");
    let counted: f64 = series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(counted, total as f64);
    for class in 1..=9 {
        let overflow = format!(
            r#"accesslog_http_requests_total{{method="(other)",section="(other)",status="{class}xx"}}"#
        );
        assert!(series_value(&text, &overflow).is_some(), "{overflow}");
    }

    // The histograms: exactly the cap of label sets, then one overflow set per class, and
    // every request observed.
    let counts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("accesslog_http_response_size_bytes_count{"))
        .collect();
    let overflow_sets = counts
        .iter()
        .filter(|l| l.contains(r#"method="(other)",section="(other)""#))
        .count();
    assert_eq!(overflow_sets, 9, "{counts:#?}");
    assert_eq!(counts.len(), limits.histogram_series + 9, "{counts:#?}");
    assert_eq!(sum_of(&counts), total as f64);
    // No series twice: a section, method and status all past their caps have the labels of
    // the overflow series, and are counted in it.
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.rsplit_once(' ').unwrap().0;
        assert!(seen.insert(series), "{series} twice");
    }
}

fn sum_of(series: &[&str]) -> f64 {
    series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The labels of a series line, without the name and the `status` or `status_class` label, and
/// the status class: `method="GET",section="/a"` and `2`.
fn set_of(line: &str) -> (String, char) {
    let labels = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
    let (set, status) = labels.split_once(",status").unwrap();
    let class = status.split('"').nth(1).unwrap().chars().next().unwrap();
    (set.to_owned(), class)
}

proptest::proptest! {
    /// Below the caps, each histogram's `_count` of a section, method and status class is the
    /// sum of the request counter's series of that section, method and class.
    #[test]
    fn histogram_counts_are_the_counter_summed_by_status_class(
        requests in proptest::collection::vec(
            (0..6u8, 0..4usize, 100..600u16, proptest::option::of(0..5_000u32)),
            1..300,
        ),
    ) {
        let mut r = recorder(100);
        let methods = ["GET", "POST", "BREW", "get"];
        let lines: Vec<Vec<u8>> = requests
            .iter()
            .map(|&(section, method, status, millis)| {
                let time = millis.map_or("-".to_owned(), |ms| format!("{}.{:03}", ms / 1000, ms % 1000));
                format!(
                    "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"{} /s{section}/x HTTP/1.1\" {status} 5 \"-\" \"-\" {time} -",
                    methods[method]
                )
                .into_bytes()
            })
            .collect();
        let format = LogFormat::Template(std::sync::Arc::new(
            crate::parse::Template::compile(
                crate::parse::Dialect::Nginx,
                crate::generate::NGINX_TIMED_FORMAT,
            )
            .unwrap(),
        ));
        let mut parser = LineParser::new(format);
        for line in &lines {
            match parser.parse(line) {
                Ok(Line::Record(record)) => r.record(&record),
                other => panic!("{other:?}"),
            }
        }
        r.flush();
        let text = r.metrics.encode();
        let mut counter = std::collections::BTreeMap::<(String, char), f64>::new();
        for line in text.lines().filter(|l| l.starts_with("accesslog_http_requests_total{")) {
            *counter.entry(set_of(line)).or_default() += sum_of(&[line]);
        }
        let histogram = |name: &str| -> std::collections::BTreeMap<(String, char), f64> {
            text.lines()
                .filter(|l| l.starts_with(name))
                .map(|l| (set_of(l), sum_of(&[l])))
                .collect()
        };
        proptest::prop_assert_eq!(&histogram("accesslog_http_response_size_bytes_count{"), &counter);
        let timed = requests.iter().filter(|r| r.3.is_some()).count() as f64;
        let durations = histogram("accesslog_http_request_duration_seconds_count{");
        proptest::prop_assert_eq!(durations.values().sum::<f64>(), timed);
        for (set, count) in durations {
            proptest::prop_assert!(count <= counter[&set]);
        }
    }
}

#[test]
fn a_time_written_as_a_bound_is_written_counts_in_that_bound() {
    let seconds = |text| crate::parse::seconds(text).unwrap();
    let bounds = HistogramBounds {
        duration: vec![seconds("0.1"), seconds("1.118"), seconds("2")],
        ..HistogramBounds::default()
    };
    let metrics = Exposition::with_buckets(&bounds)
        .unwrap()
        .log(None)
        .unwrap();
    let mut r = RequestRecorder::new(metrics, SeriesLimits::default());
    feed(
        &mut r,
        &[
            b"#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes time-taken",
            b"2024-03-01 10:00:00 1.1.1.1 GET /a 200 10 1118",
        ],
    );
    let text = r.metrics.encode();
    let bucket = |le: &str| {
        series_value(
            &text,
            &format!(
                r#"accesslog_http_request_duration_seconds_bucket{{method="GET",section="/a",status_class="2xx",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(
        (bucket("0.1"), bucket("1.118"), bucket("+Inf")),
        (Some(0.0), Some(1.0), Some(1.0)),
        "{text}"
    );
}

#[test]
fn hosts_are_labelled_within_their_cap_and_every_request_counts() {
    let limits = SeriesLimits {
        sections: 5,
        statuses: 5,
        series: 10_000,
        histogram_series: 6,
        hosts: Some(3),
    };
    let mut r = RequestRecorder::new(ExporterMetrics::new().unwrap(), limits);
    let mut rng = fastrand::Rng::with_seed(11);
    let total = 3_000;
    let mut first_hosts = Vec::new();
    for _ in 0..total {
        let host = format!("H{}.example", rng.u8(..20));
        let (field, target) = match rng.u8(..3) {
            0 => (None, format!("/s{}/x", rng.u8(..10))),
            1 => (None, format!("http://{host}/s{}/x", rng.u8(..10))),
            _ => (Some(host.clone()), format!("/s{}/x", rng.u8(..10))),
        };
        let normalized = field
            .as_ref()
            .map(|_| host.to_lowercase())
            .or_else(|| target.starts_with("http").then(|| host.to_lowercase()));
        if let Some(host) = normalized {
            if first_hosts.len() < 3 && !first_hosts.contains(&host) {
                first_hosts.push(host);
            }
        }
        r.count(Hit {
            target: Some(target.as_bytes()),
            method: 0,
            status: [200, 404][rng.usize(..2)],
            bytes: 1,
            duration: None,
            upstream_duration: None,
            timestamp: 0,
            host: field.as_deref().map(str::as_bytes),
        });
    }
    r.flush();
    let text = r.metrics.encode();
    let host_of = |line: &str| {
        line.split("host=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("accesslog_http_requests_total{"))
        .collect();
    let mut hosts: Vec<String> = requests.iter().map(|l| host_of(l)).collect();
    hosts.sort();
    hosts.dedup();
    let mut want = first_hosts.clone();
    want.extend([String::new(), "(other)".to_owned()]);
    want.sort();
    assert_eq!(hosts, want);
    assert_eq!(sum_of(&requests), total as f64);

    let counts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("accesslog_http_response_size_bytes_count{"))
        .collect();
    assert_eq!(sum_of(&counts), total as f64);
    // The histograms' overflow sets keep the request's host.
    let mut overflow_hosts: Vec<String> = counts
        .iter()
        .filter(|l| l.contains(r#"method="(other)",section="(other)""#))
        .map(|l| host_of(l))
        .collect();
    overflow_hosts.dedup();
    assert!(overflow_hosts.len() > 1, "{counts:#?}");
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            seen.insert(line.rsplit_once(' ').unwrap().0),
            "{line} twice"
        );
    }
}

#[test]
fn lines_and_parse_errors_are_summed_over_the_logs() {
    let exposition = Exposition::new().unwrap();
    let web = exposition.log(Some("web")).unwrap();
    let shop = exposition.log(Some("shop")).unwrap();
    web.add_lines_read(5);
    shop.add_lines_read(7);
    web.count_parse_error("syntax");
    shop.count_parse_error("too_long");
    shop.count_parse_error("syntax");
    assert_eq!(exposition.lines_and_parse_errors(), (12, 3));
}
