//! The configurable formats, on lines as the servers write them with their documented formats.

use std::sync::Arc;
use std::time::Duration;

use super::*;

fn nginx(format: &str) -> LogFormat {
    LogFormat::Template(Arc::new(Template::compile(Dialect::Nginx, format).unwrap()))
}

fn apache(format: &str) -> LogFormat {
    LogFormat::Template(Arc::new(
        Template::compile(Dialect::Apache, format).unwrap(),
    ))
}

fn json(overrides: &str) -> LogFormat {
    LogFormat::Json(Arc::new(JsonKeys::with_overrides(overrides).unwrap()))
}

fn record(format: &LogFormat, line: &'static [u8]) -> Record<'static> {
    match LineParser::new(format.clone()).parse(line) {
        Ok(Line::Record(r)) => r,
        other => panic!(
            "{:?}: expected a record, got {other:?}",
            String::from_utf8_lossy(line)
        ),
    }
}

fn error(format: &LogFormat, line: &[u8]) -> ParseError {
    match LineParser::new(format.clone()).parse(line) {
        Err(error) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// nginx's predefined `combined` format (ngx_http_log_module).
const NGINX_COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                              $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";
/// `combined` plus the two times, as nginx's documentation and most tuning guides add them.
const NGINX_TIMED: &str = crate::generate::NGINX_TIMED_FORMAT;

const TIME: Timestamp = Timestamp {
    unix_seconds: 971_211_336,
    utc_offset_minutes: -420,
};

#[test]
fn nginx_combined_as_nginx_writes_it() {
    let r = record(
        &nginx(NGINX_COMBINED),
        b"203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] \"GET /api/v1/users?id=3 HTTP/1.1\" 200 \
          612 \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
    );
    assert_eq!(
        (r.client, r.user, r.timestamp),
        (&b"203.0.113.9"[..], &b"-"[..], TIME)
    );
    assert_eq!(
        r.request,
        Request::Line {
            method: b"GET",
            target: b"/api/v1/users?id=3",
            protocol: Some(b"HTTP/1.1")
        }
    );
    assert_eq!((r.status, r.bytes), (200, 612));
    assert_eq!(r.referer, Some(&b"https://example.com/"[..]));
    assert_eq!(r.user_agent, Some(&b"Mozilla/5.0 (X11; Linux x86_64)"[..]));
    assert_eq!((r.duration, r.upstream_duration), (None, None));
}

#[test]
fn nginx_request_and_upstream_times() {
    let format = nginx(NGINX_TIMED);
    let line = |times: &str| -> &'static [u8] {
        format!(
            "10.0.0.1 - alice [10/Oct/2000:13:55:36 -0700] \"POST /cart HTTP/2.0\" 201 0 \"-\" \
             \"curl/8.5.0\" {times}"
        )
        .into_bytes()
        .leak()
    };
    let r = record(&format, line("0.250 0.248"));
    assert_eq!(r.user, b"alice");
    assert_eq!(r.duration, Some(Duration::from_millis(250)));
    assert_eq!(r.upstream_duration, Some(Duration::from_millis(248)));
    // No upstream (a static file or a cached answer).
    let r = record(&format, line("0.001 -"));
    assert_eq!(
        (r.duration, r.upstream_duration),
        (Some(Duration::from_millis(1)), None)
    );
    // Two upstreams tried, and an internal redirect to a third.
    let r = record(&format, line("1.020 0.500, 0.510 : 0.004"));
    assert_eq!(r.upstream_duration, Some(Duration::from_millis(1014)));
    assert_eq!(r.duration, Some(Duration::from_millis(1020)));
    // An upstream that did not answer is `-` inside the list.
    let r = record(&format, line("3.000 3.000, -"));
    assert_eq!(r.upstream_duration, Some(Duration::from_secs(3)));
    assert_eq!(
        error(&format, line("abc 0.1")),
        ParseError::Field("duration")
    );
}

#[test]
fn nginx_escaped_quotes_stay_inside_their_field() {
    // nginx writes a `"` in a value as `\x22`; with escape=none a raw one may come as `\"`.
    let r = record(
        &nginx(NGINX_COMBINED),
        b"h - - [10/Oct/2000:13:55:36 -0700] \"GET /q?a=\\x22b\\x22 HTTP/1.1\" 200 1 \"-\" \
          \"agent \\\"quoted\\\" \"",
    );
    assert_eq!(
        r.request,
        Request::Line {
            method: b"GET",
            target: b"/q?a=\\x22b\\x22",
            protocol: Some(b"HTTP/1.1")
        }
    );
    assert_eq!(r.user_agent, Some(&b"agent \\\"quoted\\\" "[..]));
}

#[test]
fn nginx_iso_time_msec_method_and_uri() {
    let r = record(
        &nginx("$time_iso8601 $request_method $uri $status $bytes_sent $host"),
        b"2000-10-10T13:55:36-07:00 DELETE /items/4 204 0 example.com",
    );
    assert_eq!(r.timestamp, TIME);
    assert_eq!(
        r.request,
        Request::Line {
            method: b"DELETE",
            target: b"/items/4",
            protocol: None
        }
    );
    assert_eq!((r.status, r.bytes), (204, 0));
    let r = record(
        &nginx("${msec} \"$request\" $status $body_bytes_sent"),
        b"971211336.123 \"GET / HTTP/1.1\" 304 0",
    );
    assert_eq!(r.timestamp.unix_seconds, 971_211_336);
}

#[test]
fn apache_common_and_combined_as_httpd_conf_writes_them() {
    // The LogFormat lines of Apache's default httpd.conf, escapes and all.
    let common = apache(r#"%h %l %u %t \"%r\" %>s %b"#);
    let r = record(
        &common,
        b"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326",
    );
    assert_eq!(
        (r.client, r.user, r.timestamp),
        (&b"127.0.0.1"[..], &b"frank"[..], TIME)
    );
    assert_eq!((r.status, r.bytes), (200, 2326));
    let combined = apache(r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""#);
    let r = record(
        &combined,
        b"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.0\" 404 - \
          \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"",
    );
    assert_eq!((r.status, r.bytes), (404, 0));
    assert_eq!(r.referer, Some(&b"http://www.example.com/start.html"[..]));
    assert_eq!(
        r.user_agent,
        Some(&b"Mozilla/4.08 [en] (Win98; I ;Nav)"[..])
    );
    // Apache escapes a quote in the request as \".
    let r = record(
        &common,
        b"h - - [10/Oct/2000:13:55:36 -0700] \"GET /\\\"x\\\" HTTP/1.0\" 400 10",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn apache_durations_in_each_unit() {
    let line: &[u8] = b"h - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 1500";
    let base = r#"%h %l %u %t \"%r\" %>s %b "#;
    for (directive, expected) in [
        ("%D", Duration::from_micros(1500)),
        ("%T", Duration::from_secs(1500)),
        ("%{ms}T", Duration::from_millis(1500)),
        ("%{us}T", Duration::from_micros(1500)),
    ] {
        let r = record(&apache(&format!("{base}{directive}")), line);
        assert_eq!(r.duration, Some(expected), "{directive}");
    }
    // %v (virtual host) and %X are read past; %% is a literal.
    let r = record(
        &apache(r#"%v %X 100%% %h %l %u %t \"%r\" %>s %O"#),
        b"www.example.com + 100% h - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5",
    );
    assert_eq!(r.bytes, 5);
}

#[test]
fn a_line_that_does_not_fit_its_format_is_an_error() {
    let format = nginx(NGINX_COMBINED);
    for (line, expected) in [
        (
            &b"h - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200"[..],
            "literal",
        ),
        (
            b"h - - [bad time] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
            "timestamp",
        ),
        (
            b"h - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 2000 1 \"-\" \"-\"",
            "status",
        ),
        (
            b"h - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1x \"-\" \"-\"",
            "bytes",
        ),
        (
            b"h - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"unclosed",
            "quote",
        ),
    ] {
        let error = error(&format, line);
        let matches = match expected {
            "literal" => matches!(error, ParseError::Field(_)),
            "timestamp" => error == ParseError::Timestamp,
            "status" => error == ParseError::Status,
            "bytes" => error == ParseError::Bytes,
            _ => error == ParseError::UnterminatedQuote,
        };
        assert!(matches, "{:?}: {error:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn format_strings_that_cannot_be_read_name_the_offending_part() {
    for (dialect, format, expected) in [
        (
            Dialect::Nginx,
            "$remote_addr $nonsense_var",
            "$nonsense_var (byte 13) is not an nginx variable",
        ),
        (
            Dialect::Nginx,
            "$remote_addr ${status",
            "${status (byte 13) has no closing }",
        ),
        (
            Dialect::Nginx,
            "[$time_local] \"$request\" $status$body_bytes_sent",
            "$body_bytes_sent (byte 32) follows the value before it",
        ),
        (
            Dialect::Nginx,
            "[$time_local] \"$request\" $status",
            "no response size ($body_bytes_sent",
        ),
        (
            Dialect::Nginx,
            "\"$request\" $status $bytes_sent",
            "no time ($time_local",
        ),
        (
            Dialect::Nginx,
            "[$time_local] $status $bytes_sent",
            "no request ($request",
        ),
        (
            Dialect::Apache,
            r#"%h %t \"%r\" %>s %b %Z"#,
            "%Z (byte 20) is not an Apache log directive",
        ),
        (
            Dialect::Apache,
            r#"%{%Y-%m-%d}t \"%r\" %>s %b"#,
            "%{%Y-%m-%d}t (byte 0) is not an Apache log directive",
        ),
        (Dialect::Apache, r#"%t \"%r\" %b"#, "no status (%>s"),
    ] {
        let error = Template::compile(dialect, format).unwrap_err().to_string();
        assert!(error.contains(expected), "{format}: {error}");
    }
}

#[test]
fn json_with_nginx_escape_json_keys() {
    // log_format json escape=json '{"time_local":"$time_local","remote_addr":"$remote_addr",…}'
    let r = record(
        &json(""),
        br#"{"time_local":"10/Oct/2000:13:55:36 -0700","remote_addr":"192.0.2.7","remote_user":"","request":"GET /shop/item?id=1 HTTP/1.1","status": "200","body_bytes_sent":"1234","request_time":"0.042","http_referrer":"","http_user_agent":"Go-http-client/1.1 \"x\"","upstream_response_time":"0.040"}"#,
    );
    assert_eq!(
        (r.client, r.user, r.timestamp),
        (&b"192.0.2.7"[..], &b"-"[..], TIME)
    );
    assert_eq!(
        r.request,
        Request::Line {
            method: b"GET",
            target: b"/shop/item?id=1",
            protocol: Some(b"HTTP/1.1")
        }
    );
    assert_eq!((r.status, r.bytes), (200, 1234));
    assert_eq!(r.duration, Some(Duration::from_millis(42)));
    assert_eq!(r.upstream_duration, Some(Duration::from_millis(40)));
    assert_eq!(r.user_agent, Some(&br#"Go-http-client/1.1 \"x\""#[..]));
    assert_eq!(r.referer, None);
}

#[test]
fn json_as_ingress_nginx_and_traefik_write_it() {
    // ingress-nginx's documented JSON log-format-upstream: numbers unquoted, method and path apart.
    let r = record(
        &json(""),
        br#"{"time": "2000-10-10T13:55:36-07:00", "remote_addr": "10.1.2.3", "x_forwarded_for": "", "request_id": "ab12", "remote_user": "", "bytes_sent": 512, "request_time": 0.005, "status": 503, "vhost": "app.example", "request_proto": "HTTP/1.1", "path": "/api/health", "request_query": "", "request_length": 80, "duration": 0.005, "method": "GET", "http_referrer": "", "http_user_agent": "kube-probe/1.29"}"#,
    );
    assert_eq!(r.timestamp, TIME);
    assert_eq!((r.status, r.bytes), (503, 512));
    assert_eq!(
        r.request,
        Request::Line {
            method: b"GET",
            target: b"/api/health",
            protocol: None
        }
    );
    assert_eq!(r.duration, Some(Duration::from_millis(5)));
    // Traefik's JSON access log: Duration in nanoseconds, nested keys ignored.
    let r = record(
        &json(""),
        br#"{"ClientHost":"192.0.2.1","DownstreamContentSize":21,"DownstreamStatus":404,"Duration":1500000,"RequestMethod":"GET","RequestPath":"/missing","StartUTC":"2000-10-10T20:55:36.123456789Z","request_User-Agent":"curl","tls":{"v":"1.3"},"level":"info"}"#,
    );
    assert_eq!((r.status, r.bytes, r.client), (404, 21, &b"192.0.2.1"[..]));
    assert_eq!(r.timestamp.unix_seconds, TIME.unix_seconds);
    assert_eq!(r.duration, Some(Duration::from_micros(1500)));
}

#[test]
fn json_keys_can_be_renamed() {
    let format = json("status=code,time=ts,target=url,method=verb,bytes=size,duration_ms=took");
    let r = record(
        &format,
        br#"{"ts":971211336,"verb":"PUT","url":"/a/b","code":202,"size":7,"took":12.5,"status":"ignored"}"#,
    );
    assert_eq!(
        (r.status, r.bytes, r.timestamp.unix_seconds),
        (202, 7, 971_211_336)
    );
    assert_eq!(r.duration, Some(Duration::from_micros(12_500)));
    for (overrides, expected) in [
        ("status", "expected FIELD=KEY"),
        ("colour=c", "\"colour\" is not a field"),
        ("status=", "the key is empty"),
    ] {
        let error = JsonKeys::with_overrides(overrides).unwrap_err().to_string();
        assert!(error.contains(expected), "{overrides}: {error}");
    }
}

#[test]
fn json_lines_that_are_not_records() {
    let format = json("");
    for line in [
        &b"not json"[..],
        b"[1,2]",
        br#"{"status":200"#,
        br#"{"status":200} trailing"#,
    ] {
        assert_eq!(
            error(&format, line),
            ParseError::Field("JSON object"),
            "{line:?}"
        );
    }
    assert_eq!(
        error(
            &format,
            br#"{"status":200,"bytes_sent":1,"request":"GET / HTTP/1.1"}"#
        ),
        ParseError::Timestamp
    );
    assert_eq!(
        error(
            &format,
            br#"{"time":971211336,"bytes_sent":1,"request":"GET / HTTP/1.1","status":"OK"}"#
        ),
        ParseError::Status
    );
}

/// A value that holds the literal after it (a user `x] [y` before ` [$time_local]`) is read up
/// to the place that makes a record (issue 16).
#[test]
fn a_value_holding_its_own_literal_is_read_to_the_place_that_makes_a_record() {
    let format = nginx(NGINX_COMBINED);
    for user in [
        "x] [y",
        "bob smith",
        "[01/Jan/2000:00:00:00 +0000]",
        "a [ b [ c",
    ] {
        let line = format!(
            "203.0.113.9 - {user} [10/Oct/2000:13:55:36 -0700] \"GET  /api/v1 HTTP/1.1\" 200 \
             612 \"-\" \"curl/7.88.1\""
        );
        let parsed = LineParser::new(format.clone()).parse(line.as_bytes());
        let Ok(Line::Record(r)) = parsed else {
            panic!("{line}: {parsed:?}")
        };
        assert_eq!((r.user, r.timestamp), (user.as_bytes(), TIME), "{line}");
        let Request::Line { target, .. } = r.request else {
            panic!("{line}: {:?}", r.request)
        };
        assert_eq!(section(target), b"/api", "{line}");
    }
    // A line no reading makes a record of keeps the error of the first reading.
    let hopeless = "203.0.113.9 - a [ b [ c [ d [ not a time] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"";
    assert_eq!(error(&format, hopeless.as_bytes()), ParseError::Timestamp);
}

/// Lines as nginx 1.22 (Debian's nginx-light) wrote them in `tests/real_nginx.rs`, verbatim:
/// the corner cases its clients made, pinned (issue 16).
#[test]
fn lines_a_real_nginx_wrote() {
    let format = nginx(NGINX_TIMED);
    // The line, and its user, section, status and upstream time.
    type Case = (
        &'static [u8],
        &'static [u8],
        &'static [u8],
        u16,
        Option<f64>,
    );
    let cases: [Case; 6] = [
        (
            b"127.0.0.1 - bob smith [02/Dec/2026:18:10:14 +0000] \"GET /api/users HTTP/1.1\" 200 3 \"-\" \"curl/7.88.1\" 0.000 -",
            b"bob smith",
            b"/api",
            200,
            None,
        ),
        (
            b"127.0.0.1 - - [02/Dec/2026:18:10:14 +0000] \"GET /up/x HTTP/1.1\" 200 8 \"-\" \"curl/7.88.1\" 0.000 0.000, 0.000",
            b"-",
            b"/up",
            200,
            Some(0.0),
        ),
        (
            b"127.0.0.1 - x] [y [02/Dec/2026:18:10:14 +0000] \"GET /caf%C3%A9/x?a=1 HTTP/1.1\" 200 3 \"-\" \"a \\x22q\\x22 \\x5C b\" 0.000 -",
            b"x] [y",
            b"/caf%C3%A9",
            200,
            None,
        ),
        (
            b"127.0.0.1 - - [02/Dec/2026:18:10:14 +0000] \"GET http://my.site.com/pages/create HTTP/1.1\" 200 3 \"-\" \"curl/7.88.1\" 0.000 -",
            b"-",
            b"/pages",
            200,
            None,
        ),
        (
            b"127.0.0.1 - - [02/Dec/2026:18:10:14 +0000] \"GET  /two-spaces HTTP/1.1\" 200 3 \"-\" \"-\" 0.000 -",
            b"-",
            b"/two-spaces",
            200,
            None,
        ),
        (
            b"127.0.0.1 - - [02/Dec/2026:18:10:14 +0000] \"GARBAGE\" 400 157 \"-\" \"-\" 0.000 -",
            b"-",
            b"(invalid)",
            400,
            None,
        ),
    ];
    for (line, user, want_section, status, upstream) in cases {
        let text = String::from_utf8_lossy(line);
        let r = record(&format, line);
        assert_eq!((r.user, r.status), (user, status), "{text}");
        let got = match r.request {
            Request::Line { target, .. } => section(target),
            Request::Malformed(_) => b"(invalid)",
        };
        assert_eq!(got, want_section, "{text}");
        assert_eq!(
            r.upstream_duration.map(|d| d.as_secs_f64()),
            upstream,
            "{text}"
        );
        assert_eq!(r.timestamp.unix_seconds, 1_796_235_014, "{text}");
    }
}

/// The site of each request, from each format's host field (issue 17); `-` or empty is none.
#[test]
fn hosts_from_every_format_that_has_a_field_for_them() {
    // The format, a line of it, and the host read.
    type Case = (LogFormat, &'static [u8], Option<&'static [u8]>);
    let cases: [Case; 8] = [
        (
            nginx("$host $remote_addr [$time_local] \"$request\" $status $body_bytes_sent"),
            b"Shop.Example:8080 1.2.3.4 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1",
            Some(b"Shop.Example:8080"),
        ),
        (
            nginx("$server_name $remote_addr [$time_local] \"$request\" $status $body_bytes_sent"),
            b"- 1.2.3.4 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1",
            None,
        ),
        (
            apache("%v %h %l %u %t \\\"%r\\\" %>s %b"),
            b"blog.example 1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1",
            Some(b"blog.example"),
        ),
        (
            apache("%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Host}i\\\""),
            b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"a.example:443\"",
            Some(b"a.example:443"),
        ),
        (
            apache("%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Host}i\\\""),
            b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"\"",
            None,
        ),
        (
            json(""),
            br#"{"time":"2000-10-10T13:55:36-07:00","method":"GET","path":"/","status":200,"host":"api.example"}"#,
            Some(b"api.example"),
        ),
        (
            json(""),
            br#"{"time":"2000-10-10T13:55:36-07:00","method":"GET","path":"/","status":200}"#,
            None,
        ),
        (LogFormat::Common, b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1", None),
    ];
    for (format, line, host) in cases {
        assert_eq!(
            record(&format, line).host,
            host,
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    let mut w3c = LineParser::new(LogFormat::Auto);
    w3c.parse(b"#Fields: date time cs-host c-ip cs-method cs-uri-stem sc-status sc-bytes")
        .unwrap();
    let Ok(Line::Record(r)) = w3c.parse(b"2024-03-01 10:00:00 www.example 1.1.1.1 GET /a 200 10")
    else {
        panic!("a W3C record")
    };
    assert_eq!(r.host, Some(&b"www.example"[..]));
}
