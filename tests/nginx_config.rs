//! `--nginx.config` against a real nginx (Debian's `nginx-light`) and Debian's stock
//! configuration: every access log the configuration declares is followed with its own
//! format, named after its server, and counts exactly the requests nginx served into it.

mod common;

use std::fs;
use std::path::Path;

use common::nginx::*;
use common::*;

/// Two sites in included files, three `log_format`s (one in pieces, one `escape=json`, one
/// matched whatever its case), four `access_log`s: a file per site in different formats, one
/// to syslog over UDP, one `off`.
fn configure(prefix: &Path, shop: u16, api: u16, syslog: u16) -> std::path::PathBuf {
    let p = prefix.display();
    let conf = prefix.join("conf");
    fs::create_dir_all(conf.join("sites")).unwrap();
    fs::write(
        conf.join("nginx.conf"),
        format!(
            "{main}http {{\n{temp}\
             log_format Main '$remote_addr - $remote_user [$time_local] '\n\
             \x20                '\"$request\" $status $body_bytes_sent '\n\
             \x20                '\"$http_referer\" \"$http_user_agent\" $request_time';\n\
             log_format api escape=json '{{\"time\":\"$time_iso8601\",\"host\":\"$host\",'\n\
             \x20   '\"request\":\"$request\",\"status\":$status,\"bytes\":$body_bytes_sent,'\n\
             \x20   '\"request_time\":$request_time,\"agent\":\"$http_user_agent\"}}';\n\
             log_format plain '$remote_addr [$time_local] \"$request\" $status $bytes_sent';\n\
             include sites/*.conf;\n}}\n",
            main = main_directives(prefix),
            temp = temp_paths(prefix),
        ),
    )
    .unwrap();
    fs::write(
        conf.join("sites/shop.conf"),
        format!(
            "server {{\n  listen 127.0.0.1:{shop};\n  server_name _ shop.example;\n\
             \x20 access_log logs/shop.log MAIN;\n\
             \x20 access_log syslog:server=127.0.0.1:{syslog},tag=shopfeed plain;\n\
             \x20 location / {{ return 200 \"ok\\n\"; }}\n\
             \x20 location /missing/ {{ return 404; }}\n\
             \x20 location /quiet/ {{ access_log off; return 204; }}\n}}\n"
        ),
    )
    .unwrap();
    fs::write(
        conf.join("sites/api.conf"),
        format!(
            "server {{\n  listen 127.0.0.1:{api};\n  server_name api.example *.api.example;\n\
             \x20 access_log {p}/logs/api.json api;\n\
             \x20 location / {{ return 200 \"{{}}\\n\"; }}\n\
             \x20 location /missing/ {{ return 404; }}\n}}\n"
        ),
    )
    .unwrap();
    conf.join("nginx.conf")
}

#[test]
fn a_real_nginx_config_alone_counts_every_request_per_log() {
    let (Some(nginx_binary), Some(_), Some(_)) = (
        in_sbin("nginx"),
        require_program("ab"),
        require_program("curl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (shop_port, api_port, syslog_port) = (free_port(), free_port(), free_port());
    let config = configure(dir.path(), shop_port, api_port, syslog_port);
    let nginx = Nginx::spawn(&nginx_binary, dir.path(), &config, shop_port);
    let mut exporter = Exporter::start([
        "--nginx.config".as_ref(),
        config.as_os_str(),
        "--syslog.listen-address".as_ref(),
        format!("udp://127.0.0.1:{syslog_port}").as_ref(),
    ]);
    exporter.wait_for_stderr(&format!("following {}", nginx.log("shop.log").display()));
    exporter.wait_for_stderr(&format!("following {}", nginx.log("api.json").display()));

    let shop = |path: &str| url(shop_port, path);
    let api = |path: &str| url(api_port, path);
    ab(&["-k", "-n", "200", "-c", "4", &shop("/api/users")]);
    curl(&["-X", "POST", "-d", "a=1", &shop("/cart/add")]);
    curl(&["-A", "agent \"quoted\" \\ slash", &shop("/agents/x")]);
    curl(&[&shop("/missing/x")]);
    for _ in 0..3 {
        curl(&[&shop("/quiet/x")]);
    }
    ab(&["-n", "120", "-c", "2", &api("/v1/items")]);
    curl(&[
        "-A",
        "agent \"quoted\" \\ slash",
        "-H",
        "Host: EU.api.example",
        &api("/v1/x"),
    ]);
    curl(&[&api("/missing/x")]);

    for (series, want) in [
        (
            r#"accesslog_http_requests_total{log="shop.example",method="GET",section="/api",status="200"}"#,
            200.0,
        ),
        (
            r#"accesslog_http_requests_total{log="shop.example",method="POST",section="/cart",status="200"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{log="shop.example",method="GET",section="/agents",status="200"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{log="shop.example",method="GET",section="/missing",status="404"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{log="api.example",method="GET",section="/v1",status="200"}"#,
            121.0,
        ),
        (
            r#"accesslog_http_requests_total{log="api.example",method="GET",section="/missing",status="404"}"#,
            1.0,
        ),
    ] {
        exporter.wait_for_value(series, want);
    }
    // The same server's requests, sent to syslog in its own format under its tag.
    for (series, want) in [
        (
            r#"accesslog_http_requests_total{log="shopfeed",method="GET",section="/api",status="200"}"#,
            200.0,
        ),
        (
            r#"accesslog_http_requests_total{log="shopfeed",method="GET",section="/missing",status="404"}"#,
            1.0,
        ),
    ] {
        exporter.wait_for_value(series, want);
    }
    let text = exporter.wait_for_value_sum("accesslog_http_requests_total", 325.0 + 203.0);
    assert_eq!(sum(&text, "accesslog_syslog_errors_total"), 0.0, "{text}");
    assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0, "{text}");
    assert_eq!(
        value(
            &text,
            r#"accesslog_http_request_duration_seconds_count{log="api.example",method="GET",section="/v1",status_class="2xx"}"#
        ),
        Some(121.0),
        "{text}"
    );
    // Each file holds exactly what was counted under its name.
    for (name, file) in [("shop.example", "shop.log"), ("api.example", "api.json")] {
        let lines = fs::read_to_string(nginx.log(file)).unwrap().lines().count();
        let series = format!("accesslog_lines_read_total{{log=\"{name}\"}}");
        assert_eq!(
            value(&text, &series),
            Some(lines as f64),
            "{series}\n{text}"
        );
    }
}

/// Debian's `/etc/nginx/nginx.conf` as the package installs it declares one log at `http`
/// level, shared by every site: it loads and is named by its file name.
#[test]
fn debians_stock_nginx_config_loads_and_names_its_log() {
    let stock = Path::new("/etc/nginx/nginx.conf");
    if in_sbin("nginx").is_none() {
        return;
    }
    assert!(
        stock.is_file(),
        "nginx is installed without {}",
        stock.display()
    );
    let mut exporter = Exporter::start(["--nginx.config".as_ref(), stock.as_os_str()]);
    let line = exporter.wait_for_stderr("/var/log/nginx/access.log");
    assert!(!line.contains("warning: /etc/nginx"), "{line}");
    let text = exporter.scrape();
    assert_eq!(
        value(&text, r#"accesslog_lines_read_total{log="access"}"#).map(|_| ()),
        Some(()),
        "{text}"
    );
}

/// Without --syslog.listen-address, a syslog target is said, with where it is declared, and
/// the files are followed.
#[test]
fn a_syslog_target_without_a_listener_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), 1, 2, 3);
    let mut exporter = Exporter::start(["--nginx.config".as_ref(), config.as_os_str()]);
    let said = exporter.wait_for_stderr("syslog:server=");
    assert!(
        said.contains("shop.conf:5") && said.contains("--syslog.listen-address"),
        "{said}"
    );
    exporter.wait_for_stderr("shop.log");
    assert!(!exporter.scrape().contains("shopfeed"));
}
