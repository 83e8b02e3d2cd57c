use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn summary(logs: &DeclaredLogs) -> Vec<(String, PathBuf)> {
    (logs.sources.iter())
        .map(|s| (s.name.clone().unwrap(), s.pattern.clone()))
        .collect()
}

/// A configuration laid out as Debian's: envvars, included modules, sites and snippets.
fn config(dir: &Path) -> PathBuf {
    write(
        dir,
        "envvars",
        "unset HOME\nif [ x != x ] ; then\n\tSUFFIX=\"-x\"\nelse\n\tSUFFIX=\nfi\n\
         export APACHE_RUN_USER=www-data\nexport APACHE_LOG_DIR=/logs$SUFFIX\n",
    );
    write(dir, "mods-enabled/log.conf", "<IfModule log_config_module>\n  LogFormat \"%h %t \\\"%r\\\" %>s %b %D\" timed\n</IfModule>\n");
    write(
        dir,
        "sites-enabled/shop.conf",
        "<VirtualHost *:80>\n\
         \x20 ServerName Shop.example:80\n\
         \x20 CustomLog ${APACHE_LOG_DIR}/shop.log timed\n\
         \x20 CustomLog ${APACHE_LOG_DIR}/shop-extra.log \"%h %l %u %t \\\"%r\\\" %>s %O\"\n\
         \x20 CustomLog \"|/usr/bin/rotatelogs /logs/r.%Y 86400\" combined\n\
         </VirtualHost>\n\
         <VirtualHost *:80>\n\
         \x20 ServerName *.wild.example\n\
         \x20 TransferLog ${APACHE_LOG_DIR}/wild.log\n\
         </VirtualHost>\n\
         <VirtualHost *:80>\n\
         \x20 ServerName quiet.example\n\
         </VirtualHost>\n",
    );
    write(
        dir,
        "conf.d/a.conf",
        "CustomLog ${APACHE_LOG_DIR}/other_vhosts_access.log vhost_combined\n",
    );
    write(
        dir,
        "apache2.conf",
        "# comment\nDefine LOGS /logs\n\
         LogFormat \"%v:%p %h %l %u %t \\\"%r\\\" %>s %O \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" vhost_combined\n\
         LogFormat \"%h %l %u %t \\\"%r\\\" %>s %O \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" combined\n\
         LogFormat \"%h %t %{%Y}t\" odd\n\
         IncludeOptional mods-enabled/*.conf\n\
         IncludeOptional nothing-here/*.conf\n\
         Include conf.d\n\
         CustomLog ${LOGS}/main.log \\\n    combined\n\
         CustomLog ${LOGS}/odd.log odd\n\
         CustomLog ${NOT_SET}/x.log combined\n\
         IncludeOptional sites-enabled/*.conf\n",
    )
}

#[test]
fn every_custom_log_is_found_named_and_given_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let logs = read(&config(dir.path())).unwrap();
    let p = |name: &str| PathBuf::from("/logs").join(name);
    assert_eq!(
        summary(&logs),
        [
            (
                "other_vhosts_access".to_owned(),
                p("other_vhosts_access.log")
            ),
            ("main".to_owned(), p("main.log")),
            ("shop.example".to_owned(), p("shop.log")),
            ("shop-extra".to_owned(), p("shop-extra.log")),
            ("wild".to_owned(), p("wild.log")),
        ]
    );
    let format = |name: &str| {
        let source = (logs.sources.iter())
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap();
        match source.format.as_ref().unwrap() {
            LogFormat::Template(template) => (**template).clone(),
            other => panic!("{other:?}"),
        }
    };
    let compile = |text: &str| Template::compile(Dialect::Apache, text).unwrap();
    assert_eq!(format("shop.example"), compile("%h %t \"%r\" %>s %b %D"));
    assert_eq!(format("shop-extra"), compile("%h %l %u %t \"%r\" %>s %O"));
    assert_eq!(
        format("wild"),
        compile(COMMON),
        "TransferLog: httpd's default"
    );
    assert_eq!(
        format("main"),
        compile("%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""),
        "a line continued with \\"
    );
    let notes = logs.notes.join("\n");
    for said in [
        "shop.conf:5: CustomLog |/usr/bin/rotatelogs /logs/r.%Y 86400: piped logs cannot be followed",
        "apache2.conf:5: LogFormat \"%h %t %{%Y}t\"",
        "apache2.conf:12: ${NOT_SET} is not defined",
        "apache2.conf:12: CustomLog ${NOT_SET}/x.log: a path with an undefined variable",
    ] {
        assert!(notes.contains(said), "{said} in\n{notes}");
    }
    assert_eq!(logs.notes.len(), 4, "{notes}");
}

#[test]
fn syntax_errors_say_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, column, problem) in [
        (
            "<VirtualHost *:80>\n  CustomLog /a.log combined\n",
            1,
            1,
            "<virtualhost> not closed",
        ),
        (
            "<VirtualHost *:80>\n  </Directory>\n",
            2,
            3,
            "</directory> closes <virtualhost>",
        ),
        ("</VirtualHost>\n", 1, 1, "without <virtualhost>"),
        ("LogFormat \"%h\n", 1, 1, "not closed"),
        ("Include missing.conf\n", 1, 1, "Include missing.conf"),
        ("  CustomLog /a.log \\", 1, 3, "continued with \\"),
    ] {
        let path = write(dir.path(), "httpd.conf", text);
        let error = read(&path).unwrap_err();
        assert_eq!(
            (error.line, error.column),
            (line, column),
            "{text}: {error}"
        );
        assert!(error.problem.contains(problem), "{text}: {error}");
    }
}
