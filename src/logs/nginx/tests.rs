use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// The name, path and format text of each source.
fn summary(logs: &DeclaredLogs) -> Vec<(String, PathBuf)> {
    (logs.sources.iter())
        .map(|source| (source.name.clone().unwrap(), source.pattern.clone()))
        .collect()
}

#[test]
fn words_quotes_escapes_and_comments_read_as_nginx_reads_them() {
    let text = "log_format a 'x \\' y' \"q\\\"\\t\" \\$p; # a comment ; {\nb { c; }";
    let words: Vec<TokenKind> = tokens(text, Path::new("t"))
        .unwrap()
        .into_iter()
        .map(|token| token.kind)
        .collect();
    let word = |w: &str| TokenKind::Word(w.to_owned());
    assert_eq!(
        words,
        [
            word("log_format"),
            word("a"),
            word("x ' y"),
            word("q\"\t"),
            word("\\$p"),
            TokenKind::Semicolon,
            word("b"),
            TokenKind::Open,
            word("c"),
            TokenKind::Semicolon,
            TokenKind::Close,
        ]
    );
}

#[test]
fn every_syntax_error_names_its_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, column, problem) in [
        (
            "http {\n  log_format a 'x;\n}\n",
            2,
            16,
            "unterminated quoted string",
        ),
        ("http {\n  server {\n", 2, 10, "\"{\" not closed"),
        ("http { }\n}\n", 2, 1, "unexpected \"}\""),
        (
            "http {\n  access_log /x\n}\n",
            2,
            3,
            "directive without \";\"",
        ),
        ("events { ; }", 1, 10, "unexpected \";\""),
        (
            "http {\n include missing.conf;\n}",
            2,
            2,
            "include missing.conf",
        ),
    ] {
        let path = write(dir.path(), "nginx.conf", text);
        let error = read(&path).unwrap_err();
        assert_eq!(
            (error.line, error.column),
            (line, column),
            "{text:?}: {error}"
        );
        assert!(error.problem.contains(problem), "{text:?}: {error}");
        assert!(error
            .to_string()
            .starts_with(&format!("{}:{line}:{column}: ", path.display())));
    }
}

/// A configuration with includes (one a glob), formats of every kind and logs at every level.
fn config(dir: &Path) -> PathBuf {
    write(
        dir,
        "conf/sites/a.conf",
        "server {\n  server_name _ *.wild ~^re Shop.example www.shop.example;\n  \
         access_log /logs/shop.log MAIN;\n  access_log /logs/shop-extra.log timed;\n  \
         location /api {\n    access_log /logs/api.log timed;\n  }\n  \
         location /quiet { access_log off; }\n  \
         location /feed { access_log syslog:server=unix:/run/feed.sock,nohostname; }\n}\n",
    );
    write(
        dir,
        "conf/sites/b.conf",
        "server {\n  server_name _;\n  access_log /logs/nameless.log;\n}\n\
         server {\n  server_name blog.example;\n  access_log syslog:server=127.0.0.1:5514,tag=edge timed;\n  \
         access_log /logs/$host.log;\n  access_log /logs/z.log.gz combined gzip flush=5m;\n}\n\
         server {\n  server_name inherits.example;\n}\n\
         server {\n  server_name shop.example;\n  access_log /logs/other-shop.log unknown_format;\n  \
         access_log /logs/second-shop.log json;\n}\n",
    );
    write(
        dir,
        "conf/nginx.conf",
        "events {}\n\
         http {\n\
           log_format main '$remote_addr - $remote_user [$time_local] \"$request\" '\n\
                           '$status $body_bytes_sent';\n\
           log_format timed '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent '\n\
                            '$request_time';\n\
           log_format json escape=json '{\"time\":\"$time_iso8601\",\"request\":\"$request\",\"status\":$status,\"bytes\":$body_bytes_sent}';\n\
           access_log /logs/access.log;\n\
           include sites/*.conf;\n\
         }\n\
         stream { server { access_log /logs/stream.log; } }\n",
    )
}

#[test]
fn every_access_log_is_found_named_and_given_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let logs = read(&config(dir.path())).unwrap();
    let p = |name: &str| PathBuf::from("/logs").join(name);
    assert_eq!(
        summary(&logs),
        [
            ("access".to_owned(), p("access.log")),
            ("shop.example".to_owned(), p("shop.log")),
            ("shop-extra".to_owned(), p("shop-extra.log")),
            ("api".to_owned(), p("api.log")),
            ("nameless".to_owned(), p("nameless.log")),
            ("second-shop".to_owned(), p("second-shop.log")),
        ]
    );
    let format = |name: &str| {
        let source = logs
            .sources
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap();
        match source.format.as_ref().unwrap() {
            LogFormat::Template(template) => (**template).clone(),
            other => panic!("{other:?}"),
        }
    };
    let compile = |text: &str| Template::compile(Dialect::Nginx, text).unwrap();
    assert_eq!(format("access"), compile(COMBINED));
    assert_eq!(
        format("shop.example"),
        compile("$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent"),
        "pieces joined, the name matched without regard to case"
    );
    assert_eq!(
        format("second-shop"),
        compile("{\"time\":\"$time_iso8601\",\"request\":\"$request\",\"status\":$status,\"bytes\":$body_bytes_sent}")
    );
    let notes = logs.notes.join("\n");
    for said in [
        "b.conf:8: access_log /logs/$host.log: a path made of variables cannot be followed",
        "b.conf:9: access_log /logs/z.log.gz: gzip-compressed logs cannot be followed",
        "b.conf:16: access_log /logs/other-shop.log: unknown log_format \"unknown_format\"",
        "nginx.conf:11: the stream block's logs are not HTTP access logs",
    ] {
        assert!(notes.contains(said), "{said} in\n{notes}");
    }
    assert_eq!(logs.notes.len(), 4, "{notes}");
    let syslog: Vec<(&str, &str)> = (logs.syslog.iter())
        .map(|(stream, declared)| (stream.label(), declared.as_str()))
        .collect();
    assert_eq!(syslog.len(), 2, "{syslog:?}");
    assert_eq!(syslog[0].0, "nginx", "nginx's default tag");
    assert!(
        syslog[0]
            .1
            .ends_with("a.conf:9: access_log syslog:server=unix:/run/feed.sock,nohostname"),
        "{syslog:?}"
    );
    assert_eq!(syslog[1].0, "edge");
    assert!(
        syslog[1]
            .1
            .ends_with("b.conf:7: access_log syslog:server=127.0.0.1:5514,tag=edge"),
        "{syslog:?}"
    );
    assert_eq!(
        logs.syslog[1].0.format,
        Some(LogFormat::Template(std::sync::Arc::new(compile(
            "$remote_addr [$time_local] \"$request\" $status $body_bytes_sent $request_time"
        ))))
    );
}

#[test]
fn nginx_t_output_is_read_with_its_includes_where_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let main = config(dir.path());
    let on_disk = read(&main).unwrap();
    let mut dump = String::from("# configuration file ");
    dump += &format!("{}:\n", main.display());
    dump += &std::fs::read_to_string(&main).unwrap();
    for site in ["a.conf", "b.conf"] {
        let path = dir.path().join("conf/sites").join(site);
        dump += &format!("\n# configuration file {}:\n", path.display());
        dump += &std::fs::read_to_string(&path).unwrap();
    }
    // Read from the dump alone: the files on disk are gone.
    std::fs::remove_dir_all(dir.path().join("conf")).unwrap();
    let dumped = write(dir.path(), "dump.txt", &dump);
    let from_dump = read(&dumped).unwrap();
    assert_eq!(summary(&from_dump), summary(&on_disk));
    assert_eq!(from_dump.notes, on_disk.notes);
}
