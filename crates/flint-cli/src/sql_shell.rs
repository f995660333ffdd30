use std::io::IsTerminal;
use std::process::ExitCode;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::cli::SqlArgs;
use crate::error::CliError;
use crate::submit::{run_script, run_statement, run_with_interrupt, start_session};

/// `flint sql`: `-e TEXT`, `-f FILE`, or an interactive shell with history (spark-sql).
pub(crate) async fn run(args: SqlArgs) -> Result<ExitCode, CliError> {
    let script = match (&args.execute, &args.file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) => {
            Some(
                std::fs::read_to_string(path).map_err(|source| CliError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
            )
        }
        (None, None) => None,
    };
    args.app.to_conf()?;
    let spark = start_session(&args.app, "Flint SQL CLI").await?;
    let outcome = match script {
        Some(text) => run_with_interrupt(&spark, run_script(&spark, &text)).await,
        None if std::io::stdin().is_terminal() => shell(&spark).await,
        None => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
                CliError::Read {
                    path: "stdin".into(),
                    source,
                }
            })?;
            run_with_interrupt(&spark, run_script(&spark, &text)).await
        }
    };
    spark.stop();
    outcome.map(|()| ExitCode::SUCCESS)
}

/// The interactive loop: statements end with `;`, errors are printed and the shell goes on.
async fn shell(spark: &flint::SparkSession) -> Result<(), CliError> {
    let mut editor = DefaultEditor::new().map_err(|e| CliError::Shell(e.to_string()))?;
    let history = std::env::var_os("HOME")
        .map(|home| std::path::PathBuf::from(home).join(".flint_sql_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "flint-sql> "
        } else {
            "         > "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                let text = std::mem::take(&mut buffer);
                let _ = editor.add_history_entry(text.trim());
                let trimmed = text.trim().trim_end_matches(';').trim();
                if trimmed.eq_ignore_ascii_case("exit") || trimmed.eq_ignore_ascii_case("quit") {
                    break;
                }
                match flint::split_statements(&text) {
                    Ok(statements) => {
                        for statement in statements {
                            // Ctrl-C cancels the running statement, not the shell.
                            let outcome = tokio::select! {
                                outcome = run_statement(spark, &statement) => outcome,
                                _ = tokio::signal::ctrl_c() => Err(CliError::Shell("statement cancelled".into())),
                            };
                            if let Err(error) = outcome {
                                eprintln!("error: {error}");
                                break;
                            }
                        }
                    }
                    Err(error) => eprintln!("error: {error}"),
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(CliError::Shell(error.to_string())),
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}
