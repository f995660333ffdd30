use std::process::ExitCode;
use std::time::Instant;

use flint::{DataFrame, SparkSession};
use flint_conf::SUBMIT_CONF_ENV;

use crate::cli::{AppOptions, SubmitArgs};
use crate::error::CliError;

/// `flint submit`: runs a `.sql` file in this process, or starts an application program with
/// the configuration in its environment and waits for it.
pub(crate) async fn run(args: SubmitArgs) -> Result<ExitCode, CliError> {
    let conf = args.app.to_conf()?;
    if let Some(driver_id) = &args.status {
        return crate::deploy_client::status(&conf, driver_id).await;
    }
    if let Some(driver_id) = &args.kill {
        return crate::deploy_client::kill(&conf, driver_id).await;
    }
    let Some(application) = args.application.clone() else {
        return Err(CliError::Usage(
            "an application (.sql file or program) is required".into(),
        ));
    };
    if args.app.deploy_mode == "cluster" {
        return crate::deploy_client::submit(&args, &conf, &application).await;
    }
    let path = application.display().to_string();
    if application
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
    {
        let text = std::fs::read_to_string(&application).map_err(|source| CliError::Read {
            path: path.clone(),
            source,
        })?;
        let spark = start_session(&args.app, &path).await?;
        let outcome = run_with_interrupt(&spark, run_script(&spark, &text)).await;
        spark.stop();
        return outcome.map(|()| ExitCode::SUCCESS);
    }
    if application
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("py"))
    {
        return crate::connect::run_python_app(&args, &application).await;
    }
    if !application.exists() {
        return Err(CliError::Launch {
            path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let status = tokio::process::Command::new(&application)
        .args(&args.args)
        .env(SUBMIT_CONF_ENV, conf.to_submit_env())
        .status()
        .await
        .map_err(|source| CliError::Launch { path, source })?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Starts the application's session with the command's options.
pub(crate) async fn start_session(
    app: &AppOptions,
    default_name: &str,
) -> Result<SparkSession, CliError> {
    start_session_with(app, default_name, &[]).await
}

/// [`start_session`] with settings the command itself adds (`spark.submit.pyFiles`).
pub(crate) async fn start_session_with(
    app: &AppOptions,
    default_name: &str,
    extra: &[(&str, String)],
) -> Result<SparkSession, CliError> {
    let conf = app.to_conf()?;
    let mut builder = SparkSession::builder().app_name(default_name);
    for (key, value) in conf.iter() {
        builder = builder.config(key, value);
    }
    for (key, value) in extra {
        builder = builder.config(key, value.as_str());
    }
    Ok(builder.get_or_create().await?)
}

/// Stops the application and reports an interrupt when Ctrl-C arrives first, so no local
/// directory is left behind.
pub(crate) async fn run_with_interrupt(
    spark: &SparkSession,
    work: impl std::future::Future<Output = Result<(), CliError>>,
) -> Result<(), CliError> {
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            spark.stop();
            Err(CliError::Shell("interrupted".into()))
        }
    }
}

/// Runs a script's statements in order, printing each query's rows as spark-sql does.
pub(crate) async fn run_script(spark: &SparkSession, text: &str) -> Result<(), CliError> {
    for statement in flint::split_statements(text)? {
        run_statement(spark, &statement).await?;
    }
    Ok(())
}

/// Runs one statement; a query's rows go to stdout as `spark-sql` prints them: one line per
/// row, tab-separated.
pub(crate) async fn run_statement(spark: &SparkSession, statement: &str) -> Result<(), CliError> {
    let started = Instant::now();
    let df: DataFrame = spark.sql(statement).await?;
    let mut rows = 0usize;
    if !df.columns().is_empty() {
        use std::io::Write;
        let batches = df.collect().await?;
        let format = spark.hive_format()?;
        let mut out = std::io::stdout().lock();
        for batch in &batches {
            for row in format.rows(batch) {
                rows += 1;
                let _ = writeln!(out, "{}", row.join("\t"));
            }
        }
        let _ = out.flush();
    }
    eprintln!(
        "Time taken: {:.3} seconds, Fetched {rows} row(s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
