//! `--apache.config` against a real Apache httpd (Debian's `apache2`) and Debian's stock
//! configuration: every `CustomLog` is followed with its own format, named after its virtual
//! host, and counts exactly the requests httpd wrote to it.

mod common;

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::nginx::{ab, curl, free_port, in_sbin, url};
use common::*;

/// httpd in a directory of its own, stopped when dropped.
struct Apache(Child);

impl Apache {
    fn start(apache: &Path, root: &Path, port: u16) -> Apache {
        let child = Command::new(apache)
            .arg("-d")
            .arg(root)
            .arg("-f")
            .arg(root.join("httpd.conf"))
            .arg("-DFOREGROUND")
            // The piped log writes there.
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("apache2");
        let started = Apache(child);
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "apache2 never listened");
            std::thread::yield_now();
        }
        started
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Two virtual hosts, one logging in a format of its own, the other to the main server's
/// log; formats by nickname and inline, a piped log, a section httpd reads conditionally.
fn configure(root: &Path, port: u16) {
    let r = root.display();
    fs::create_dir_all(root.join("logs")).unwrap();
    fs::create_dir_all(root.join("htdocs")).unwrap();
    fs::create_dir_all(root.join("sites")).unwrap();
    fs::write(root.join("htdocs/index.html"), "ok\n").unwrap();
    fs::write(
        root.join("httpd.conf"),
        format!(
            "ServerRoot {r}\nListen 127.0.0.1:{port}\nPidFile {r}/httpd.pid\n\
             DefaultRuntimeDir {r}\nErrorLog {r}/error.log\n\
             LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n\
             LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
             User nobody\nGroup nogroup\nServerName localhost\nDocumentRoot {r}/htdocs\n\
             Define LOGS {r}/logs\n\
             <IfModule log_config_module>\n\
             \x20 LogFormat \"%h %l %u %t \\\"%r\\\" %>s %O \\\"%{{Referer}}i\\\" \\\"%{{User-Agent}}i\\\"\" combined\n\
             </IfModule>\n\
             CustomLog logs/main.log combined\n\
             CustomLog \"|/bin/cat\" combined\n\
             IncludeOptional sites/*.conf\n"
        ),
    )
    .unwrap();
    fs::write(
        root.join("sites/shop.conf"),
        format!(
            "<VirtualHost 127.0.0.1:{port}>\n  ServerName shop.example:{port}\n\
             \x20 DocumentRoot {r}/htdocs\n\
             \x20 CustomLog ${{LOGS}}/shop.log \"%v %h %t \\\"%r\\\" %>s %b %D\"\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:{port}>\n  ServerName blog.example\n\
             \x20 DocumentRoot {r}/htdocs\n</VirtualHost>\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_real_apache_config_alone_counts_every_request_per_log() {
    let (Some(apache), Some(_), Some(_)) = (
        in_sbin("apache2"),
        require_program("ab"),
        require_program("curl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    configure(dir.path(), port);
    let _apache = Apache::start(&apache, dir.path(), port);
    let config = dir.path().join("httpd.conf");
    let mut exporter = Exporter::start(["--apache.config".as_ref(), config.as_os_str()]);
    let said = exporter.wait_for_stderr("piped logs");
    assert!(said.contains("httpd.conf:"), "{said}");
    exporter.wait_for_stderr("shop.log from byte");
    exporter.wait_for_stderr("main.log from byte");

    let page = url(port, "/index.html");
    ab(&[
        "-k",
        "-n",
        "150",
        "-c",
        "3",
        "-H",
        "Host: shop.example",
        &page,
    ]);
    curl(&["-H", "Host: shop.example", &url(port, "/missing/x")]);
    ab(&["-n", "40", "-c", "2", "-H", "Host: blog.example", &page]);
    curl(&[
        "-H",
        "Host: blog.example",
        "-A",
        "agent \"quoted\"",
        &url(port, "/posts/1"),
    ]);

    for (series, want) in [
        (
            r#"accesslog_http_requests_total{log="shop.example",method="GET",section="/index.html",status="200"}"#,
            150.0,
        ),
        (
            r#"accesslog_http_requests_total{log="shop.example",method="GET",section="/missing",status="404"}"#,
            1.0,
        ),
        (
            r#"accesslog_http_requests_total{log="main",method="GET",section="/index.html",status="200"}"#,
            40.0,
        ),
        (
            r#"accesslog_http_requests_total{log="main",method="GET",section="/posts",status="404"}"#,
            1.0,
        ),
    ] {
        exporter.wait_for_value(series, want);
    }
    let text = exporter.scrape();
    assert_eq!(sum(&text, "accesslog_http_requests_total"), 192.0, "{text}");
    assert_eq!(sum(&text, "accesslog_parse_errors_total"), 0.0, "{text}");
    assert_eq!(
        value(
            &text,
            r#"accesslog_http_request_duration_seconds_count{log="shop.example",method="GET",section="/index.html",status_class="2xx"}"#
        ),
        Some(150.0),
        "{text}"
    );
}

/// Debian's `/etc/apache2/apache2.conf` as the package installs it: its envvars, its
/// included modules, snippets and sites load, and its two logs are named by their files.
#[test]
fn debians_stock_apache_config_loads_and_names_its_logs() {
    if in_sbin("apache2").is_none() {
        return;
    }
    let stock = Path::new("/etc/apache2/apache2.conf");
    assert!(
        stock.is_file(),
        "apache2 is installed without {}",
        stock.display()
    );
    let mut exporter = Exporter::start(["--apache.config".as_ref(), stock.as_os_str()]);
    exporter.wait_for_stderr("/var/log/apache2/access.log");
    exporter.wait_for_stderr("/var/log/apache2/other_vhosts_access.log");
    for log in ["access", "other_vhosts_access"] {
        let series = format!("accesslog_parse_errors_total{{log=\"{log}\",reason=\"syntax\"}}");
        exporter.wait_for_value(&series, 0.0);
    }
    // Nothing in the configuration was left unread (the logs themselves may not exist yet).
    assert!(
        !exporter
            .stderr_seen
            .iter()
            .any(|line| line.contains("/etc/apache2")),
        "{:#?}",
        exporter.stderr_seen
    );
}
