//! Cluster deploy mode's client (Spark's `deploy.Client`): hands a driver to the master,
//! asks for its state, or asks to kill it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use flint_conf::{MasterUrl, SparkConf, keys};
use flint_rpc::deploy::master_client::MasterClient;
use flint_rpc::deploy::{
    DriverDescription, DriverStatusRequest, KillDriverRequest, SubmitDriverRequest,
};
use tonic::transport::Channel;

use crate::cli::SubmitArgs;
use crate::error::CliError;

/// Sends a request to the masters of `spark.master` in turn until one that leads answers
/// (a STANDBY master refuses as unavailable, and so does one that is down).
async fn ask_masters<T, F>(conf: &SparkConf, mut ask: F) -> Result<T, CliError>
where
    F: AsyncFnMut(MasterClient<Channel>) -> Result<T, tonic::Status>,
{
    let url = conf.value(&keys::MASTER)?;
    let MasterUrl::Standalone { masters } = MasterUrl::parse(&url, 1)? else {
        return Err(CliError::Usage(format!(
            "cluster deploy mode, --status and --kill need --master spark://HOST:PORT (got {url})"
        )));
    };
    let security = flint_rpc::RpcSecurity::from_conf(conf)?;
    let mut last_error = String::new();
    for (host, port) in &masters {
        let channel =
            match flint_rpc::connect(host, *port, Duration::from_secs(10), &security).await {
                Ok(channel) => channel,
                Err(error) => {
                    last_error = error.to_string();
                    continue;
                }
            };
        match ask(MasterClient::new(channel)).await {
            Ok(answer) => return Ok(answer),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                last_error = format!("spark://{host}:{port}: {}", status.message());
            }
            // A master that requires authentication closes a plain connection at once.
            Err(status) if flint_rpc::is_unreachable(&status) => {
                last_error = format!(
                    "spark://{host}:{port} closed the connection (if it requires {}, set it and {} here too)",
                    keys::AUTHENTICATE.key,
                    keys::AUTHENTICATE_SECRET.key
                );
            }
            Err(status) => return Err(rpc_error(status)),
        }
    }
    Err(CliError::MasterRequest(format!(
        "cannot reach the master at {url}: {last_error}"
    )))
}

fn rpc_error(status: tonic::Status) -> CliError {
    CliError::MasterRequest(format!("the master refused: {}", status.message()))
}

/// Submits the application as a driver to run on a worker; prints its submission id.
pub(crate) async fn submit(
    args: &SubmitArgs,
    conf: &SparkConf,
    application: &Path,
) -> Result<ExitCode, CliError> {
    // The worker runs the same path: it must exist, absolutely named.
    let application = application
        .canonicalize()
        .map_err(|source| CliError::Read {
            path: application.display().to_string(),
            source,
        })?;
    let memory_mib = conf.value(&keys::DRIVER_MEMORY)?.0 >> 20;
    // Secrets stay here: the master persists the description, and the worker that runs the
    // driver hands it its own secret.
    let withheld = flint_conf::withheld_secret_keys(conf);
    if !withheld.is_empty() {
        tracing::warn!(
            "Not passing {} to the driver: settings whose names look secret never go on a command line",
            withheld.join(", ")
        );
    }
    let mut settings: std::collections::HashMap<String, String> = conf
        .iter()
        .filter(|(key, _)| !flint_conf::is_secret_key(key))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    settings
        .entry(keys::APP_NAME.key.to_string())
        .or_insert_with(|| application.display().to_string());
    let description = DriverDescription {
        application: application.display().to_string(),
        arguments: args.args.clone(),
        cores: args.driver_cores.unwrap_or(1).max(1),
        memory_mib: memory_mib.max(1),
        supervise: args.supervise,
        conf: settings,
    };
    let driver_id = ask_masters(conf, async |mut master| {
        let request = SubmitDriverRequest {
            description: Some(description.clone()),
        };
        Ok(master.submit_driver(request).await?.into_inner().driver_id)
    })
    .await?;
    tracing::info!("Driver successfully submitted as {driver_id}");
    println!("{driver_id}");
    Ok(ExitCode::SUCCESS)
}

/// Prints a driver's state (Spark's `--status`).
pub(crate) async fn status(conf: &SparkConf, driver_id: &str) -> Result<ExitCode, CliError> {
    let answer = ask_masters(conf, async |mut master| {
        let request = DriverStatusRequest {
            driver_id: driver_id.to_string(),
        };
        Ok(master.driver_status(request).await?.into_inner())
    })
    .await?;
    if !answer.found {
        return Err(CliError::MasterRequest(format!(
            "the master does not know driver {driver_id}"
        )));
    }
    println!("{}", answer.state);
    tracing::info!("State of driver {driver_id} is {}", answer.state);
    if !answer.worker_id.is_empty() {
        tracing::info!(
            "Driver running on {} ({})",
            answer.worker_host_port,
            answer.worker_id
        );
    }
    if !answer.message.is_empty() {
        tracing::info!("{}", answer.message);
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the master to kill a driver (Spark's `--kill`).
pub(crate) async fn kill(conf: &SparkConf, driver_id: &str) -> Result<ExitCode, CliError> {
    let answer = ask_masters(conf, async |mut master| {
        let request = KillDriverRequest {
            driver_id: driver_id.to_string(),
            user: flint_conf::current_user(),
        };
        Ok(master.kill_driver(request).await?.into_inner())
    })
    .await?;
    if !answer.found {
        return Err(CliError::MasterRequest(answer.message));
    }
    tracing::info!("{}", answer.message);
    Ok(ExitCode::SUCCESS)
}
