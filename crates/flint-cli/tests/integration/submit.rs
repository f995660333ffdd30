use std::path::Path;

use crate::harness::flint;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A `.sql` application prints each query's rows as spark-sql does and leaves nothing behind.
#[test]
fn submit_sql_file_prints_rows_like_spark_sql() {
    let dir = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "people.csv", "name,age\nann,31\nbob,\ncid,25\n");
    let app = write(
        dir.path(),
        "app.sql",
        &format!(
            "-- Spark's syntax for file tables\n\
             CREATE TEMPORARY VIEW people USING csv OPTIONS (path '{csv}', header 'true', inferSchema 'true');\n\
             SELECT name, age FROM people ORDER BY name;\n\
             SELECT count(*) FROM csv.`{csv}`;\n\
             SELECT id % 3 AS k, count(*) FROM range(0, 30) GROUP BY 1 ORDER BY 1;\n"
        ),
    );
    let local_conf = format!("spark.local.dir={}", local.path().display());
    let run = flint(
        &[
            "submit",
            "--master",
            "local[2]",
            "--conf",
            &local_conf,
            &app,
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(
        run.stdout,
        "ann\t31\nbob\tNULL\ncid\t25\n3\n0\t10\n1\t10\n2\t10\n"
    );
    assert!(run.stderr.contains("Fetched 3 row(s)"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_dir(local.path()).unwrap().count(),
        0,
        "local dir left behind"
    );
}

/// `flint sql -e` runs statements; `flint submit` hands master and conf to a program.
#[test]
fn sql_e_and_program_applications() {
    let run = flint(
        &[
            "sql",
            "--master",
            "local[1]",
            "-e",
            "select 1 + 1; select 'a', null",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "2\na\tNULL\n");

    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "app.sh",
        "#!/bin/sh\necho \"args: $*\"\nprintf '%s' \"$FLINT_SUBMIT_CONF\"\nexit 3\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = flint(
        &[
            "submit",
            "--master",
            "local[3]",
            "--name",
            "prog",
            "--conf",
            "spark.x=1",
            &script,
            "a",
            "-b",
        ],
        &[],
    );
    assert_eq!(run.code, Some(3), "the program's exit code is submit's");
    let defaults = write(
        dir.path(),
        "spark-defaults.conf",
        "# defaults\nspark.x 0\nspark.y=2\n",
    );
    let with_defaults = flint(
        &[
            "submit",
            "--master",
            "local[3]",
            "--name",
            "prog",
            "--conf",
            "spark.x=1",
            "--properties-file",
            &defaults,
            &script,
        ],
        &[],
    );
    assert_eq!(
        with_defaults.stdout,
        "args: \nspark.app.name=prog\nspark.master=local[3]\nspark.x=1\nspark.y=2\n"
    );
    assert_eq!(
        run.stdout,
        "args: a -b\nspark.app.name=prog\nspark.master=local[3]\nspark.x=1\n"
    );
}

/// Each mistake prints one clear line and exits non-zero, without a panic.
#[test]
fn mistakes_give_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "sql".into(),
                "--master".into(),
                "local[1]".into(),
                "-e".into(),
                "selec 1".into(),
            ],
            "sql parser error",
        ),
        (
            vec![
                "sql".into(),
                "--master".into(),
                "local[1]".into(),
                "-e".into(),
                "select * from nope".into(),
            ],
            "nope",
        ),
        (
            vec!["submit".into(), "/no/such/app.sql".into()],
            "/no/such/app.sql",
        ),
        (
            vec!["submit".into(), "/no/such/program".into()],
            "/no/such/program",
        ),
        (
            vec![
                "sql".into(),
                "--master".into(),
                "yarn".into(),
                "-e".into(),
                "select 1".into(),
            ],
            "invalid master URL \"yarn\"",
        ),
        (
            vec![
                "sql".into(),
                "--driver-memory".into(),
                "5x".into(),
                "-e".into(),
                "select 1".into(),
            ],
            "invalid size \"5x\" for spark.driver.memory",
        ),
        (
            vec![
                "sql".into(),
                "--conf".into(),
                "novalue".into(),
                "-e".into(),
                "select 1".into(),
            ],
            "expected KEY=VALUE",
        ),
        (
            vec![
                "sql".into(),
                "--master".into(),
                "local[1]".into(),
                "-e".into(),
                "select * from parquet.`/no/such.parquet`".into(),
            ],
            "/no/such.parquet",
        ),
        (
            vec![
                "datagen".into(),
                "tpch".into(),
                "--scale-factor".into(),
                "0".into(),
                "--output".into(),
                dir.path().display().to_string(),
            ],
            "invalid scale factor",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = flint(&args, &[]).expect_clear_error();
        assert!(
            line.contains(expected),
            "flint {args:?}: {line:?} does not mention {expected:?}"
        );
    }
}

/// `flint datagen tpch` writes the eight tables.
#[test]
fn datagen_writes_eight_tables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tpch");
    let run = flint(
        &[
            "datagen",
            "tpch",
            "--scale-factor",
            "0.001",
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"
        ]
        .map(|t| format!("{t}.parquet"))
    );
}
