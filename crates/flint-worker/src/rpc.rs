//! The worker's gRPC service: its state, and launching and killing executors for the master.

use flint_rpc::deploy::worker_server::{Worker as WorkerRpc, WorkerServer};
use flint_rpc::deploy::{
    ApplicationFinishedRequest, ApplicationFinishedResponse, KillDriverRequest, KillDriverResponse,
    KillExecutorRequest, KillExecutorResponse, LaunchDriverRequest, LaunchDriverResponse,
    LaunchExecutorRequest, LaunchExecutorResponse, MasterChangedRequest, MasterChangedResponse,
    WorkerStateRequest, WorkerStateResponse,
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::driver_runner::{DriverRequest, launch_driver};
use crate::executor_runner::{LaunchRequest, launch};
use crate::worker::{SharedStatus, WorkerError, executor_key};

struct WorkerService {
    shared: SharedStatus,
}

#[tonic::async_trait]
impl WorkerRpc for WorkerService {
    async fn worker_state(
        &self,
        _request: Request<WorkerStateRequest>,
    ) -> Result<Response<WorkerStateResponse>, Status> {
        let status = self.shared.status();
        Ok(Response::new(WorkerStateResponse {
            worker_id: status.id,
            master_url: status.master_url.unwrap_or_default(),
            cores: status.cores,
            cores_used: status.cores_used,
            memory_mib: status.memory_mib,
            memory_used_mib: status.memory_used_mib,
        }))
    }

    async fn launch_executor(
        &self,
        request: Request<LaunchExecutorRequest>,
    ) -> Result<Response<LaunchExecutorResponse>, Status> {
        let request = request.into_inner();
        let description = request
            .description
            .ok_or_else(|| Status::invalid_argument("the application description is missing"))?;
        if !flint_common::is_path_safe_id(&request.app_id) {
            return Err(Status::invalid_argument(format!(
                "invalid application id \"{}\"",
                request.app_id
            )));
        }
        if request.cores == 0 || request.memory_mib == 0 {
            return Err(Status::invalid_argument(
                "an executor needs at least 1 core and 1 MiB",
            ));
        }
        tracing::info!(
            app_id = %request.app_id,
            "Asked to launch executor {}/{} for {}",
            request.app_id,
            request.executor_id,
            description.name
        );
        self.shared
            .reserve(request.cores, request.memory_mib)
            .map_err(Status::resource_exhausted)?;
        let launch_request = LaunchRequest {
            app_id: request.app_id.clone(),
            executor_id: request.executor_id,
            app_name: description.name,
            user: description.user,
            driver_url: description.driver_url,
            cores: request.cores,
            memory_mib: request.memory_mib,
            conf: description.conf.into_iter().collect(),
        };
        match launch(&self.shared, launch_request) {
            Ok(handle) => {
                self.shared
                    .add_runner(executor_key(&request.app_id, request.executor_id), handle);
                Ok(Response::new(LaunchExecutorResponse {}))
            }
            Err(error) => {
                self.shared.release(request.cores, request.memory_mib);
                tracing::error!("Failed to launch executor: {error}");
                Err(Status::internal(error.to_string()))
            }
        }
    }

    async fn kill_executor(
        &self,
        request: Request<KillExecutorRequest>,
    ) -> Result<Response<KillExecutorResponse>, Status> {
        let request = request.into_inner();
        tracing::info!(
            app_id = %request.app_id,
            "Asked to kill executor {}/{}",
            request.app_id,
            request.executor_id
        );
        for runner in self
            .shared
            .take_runners(|key| key == executor_key(&request.app_id, request.executor_id))
        {
            runner.kill().await;
        }
        Ok(Response::new(KillExecutorResponse {}))
    }

    async fn application_finished(
        &self,
        request: Request<ApplicationFinishedRequest>,
    ) -> Result<Response<ApplicationFinishedResponse>, Status> {
        let app_id = request.into_inner().app_id;
        if !flint_common::is_path_safe_id(&app_id) {
            return Err(Status::invalid_argument(format!(
                "invalid application id \"{app_id}\""
            )));
        }
        let prefix = format!("{app_id}/");
        for runner in self.shared.take_runners(|key| key.starts_with(&prefix)) {
            runner.kill().await;
        }
        self.shared.application_ended(&app_id);
        Ok(Response::new(ApplicationFinishedResponse {}))
    }

    async fn launch_driver(
        &self,
        request: Request<LaunchDriverRequest>,
    ) -> Result<Response<LaunchDriverResponse>, Status> {
        let request = request.into_inner();
        let description = request
            .description
            .ok_or_else(|| Status::invalid_argument("the driver description is missing"))?;
        if !flint_common::is_path_safe_id(&request.driver_id) {
            return Err(Status::invalid_argument(format!(
                "invalid driver id \"{}\"",
                request.driver_id
            )));
        }
        tracing::info!("Asked to launch driver {}", request.driver_id);
        self.shared
            .reserve(description.cores, description.memory_mib)
            .map_err(Status::resource_exhausted)?;
        let driver = DriverRequest {
            driver_id: request.driver_id.clone(),
            master_url: request.master_url,
            application: description.application,
            arguments: description.arguments,
            cores: description.cores,
            memory_mib: description.memory_mib,
            conf: description.conf.into_iter().collect(),
        };
        match launch_driver(&self.shared, driver) {
            Ok(handle) => {
                self.shared.add_runner(request.driver_id, handle);
                Ok(Response::new(LaunchDriverResponse {}))
            }
            Err(error) => {
                self.shared
                    .release(description.cores, description.memory_mib);
                tracing::error!("Failed to launch driver: {error}");
                Err(Status::internal(error.to_string()))
            }
        }
    }

    async fn kill_driver(
        &self,
        request: Request<KillDriverRequest>,
    ) -> Result<Response<KillDriverResponse>, Status> {
        let driver_id = request.into_inner().driver_id;
        tracing::info!("Asked to kill driver {driver_id}");
        for runner in self.shared.take_runners(|key| key == driver_id) {
            runner.kill().await;
        }
        Ok(Response::new(KillDriverResponse {
            found: true,
            message: String::new(),
        }))
    }

    async fn master_changed(
        &self,
        request: Request<MasterChangedRequest>,
    ) -> Result<Response<MasterChangedResponse>, Status> {
        self.shared
            .master_changed(&request.into_inner().master_url)
            .map_err(Status::invalid_argument)?;
        Ok(Response::new(MasterChangedResponse {}))
    }
}

/// Serves the worker's RPC endpoint until the process ends.
pub(crate) async fn serve(listener: TcpListener, shared: SharedStatus) -> Result<(), WorkerError> {
    let incoming = flint_rpc::incoming(listener, &shared.config.security);
    tonic::transport::Server::builder()
        .add_service(WorkerServer::new(WorkerService { shared }))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
