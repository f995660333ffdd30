//! The master's gRPC service: converts wire messages to [`MasterEvent`]s and back.

use flint_rpc::deploy::master_server::{Master as MasterRpc, MasterServer};
use flint_rpc::deploy::{
    HeartbeatRequest, HeartbeatResponse, RegisterWorkerRequest, RegisterWorkerResponse,
    RegisteredWorker, register_worker_response,
};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::master::{
    MasterError, MasterEvent, MasterHandle, RegistrationOutcome, WorkerRegistration,
};

struct MasterService {
    master: MasterHandle,
}

fn stopped() -> Status {
    Status::unavailable("the master is shutting down")
}

#[tonic::async_trait]
impl MasterRpc for MasterService {
    async fn register_worker(
        &self,
        request: Request<RegisterWorkerRequest>,
    ) -> Result<Response<RegisterWorkerResponse>, Status> {
        let request = request.into_inner();
        let port = u16::try_from(request.port)
            .map_err(|_| Status::invalid_argument(format!("invalid port {}", request.port)))?;
        if request.worker_id.is_empty() || request.host.is_empty() {
            return Err(Status::invalid_argument("worker id and host are required"));
        }
        let registration = WorkerRegistration {
            id: request.worker_id,
            host: request.host,
            port,
            cores: request.cores,
            memory_mib: request.memory_mib,
            webui_address: request.webui_address,
        };
        let outcome = self
            .master
            .ask(|reply| MasterEvent::RegisterWorker(registration, reply))
            .await
            .ok_or_else(stopped)?;
        let result = match outcome {
            RegistrationOutcome::Registered {
                master_url,
                master_webui_url,
                duplicate,
            } => register_worker_response::Result::Registered(RegisteredWorker {
                master_url,
                master_webui_url,
                duplicate,
            }),
            RegistrationOutcome::Failed(message) => {
                register_worker_response::Result::Failed(message)
            }
        };
        Ok(Response::new(RegisterWorkerResponse {
            result: Some(result),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let worker_id = request.into_inner().worker_id;
        let reconnect = self
            .master
            .ask(|reply| MasterEvent::Heartbeat(worker_id, reply))
            .await
            .ok_or_else(stopped)?;
        Ok(Response::new(HeartbeatResponse { reconnect }))
    }
}

/// Serves the master's RPC endpoint until the process ends.
pub(crate) async fn serve(listener: TcpListener, master: MasterHandle) -> Result<(), MasterError> {
    tonic::transport::Server::builder()
        .add_service(MasterServer::new(MasterService { master }))
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    Ok(())
}
