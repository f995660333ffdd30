//! The worker's gRPC service: answers `WorkerState` from the worker's status.

use flint_rpc::deploy::worker_server::{Worker as WorkerRpc, WorkerServer};
use flint_rpc::deploy::{WorkerStateRequest, WorkerStateResponse};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::worker::{SharedStatus, WorkerError};

struct WorkerService {
    status: SharedStatus,
}

#[tonic::async_trait]
impl WorkerRpc for WorkerService {
    async fn worker_state(
        &self,
        _request: Request<WorkerStateRequest>,
    ) -> Result<Response<WorkerStateResponse>, Status> {
        let status = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(Response::new(WorkerStateResponse {
            worker_id: status.id,
            master_url: status.master_url.unwrap_or_default(),
            cores: status.cores,
            cores_used: status.cores_used,
            memory_mib: status.memory_mib,
            memory_used_mib: status.memory_used_mib,
        }))
    }
}

/// Serves the worker's RPC endpoint until the process ends.
pub(crate) async fn serve(listener: TcpListener, status: SharedStatus) -> Result<(), WorkerError> {
    tonic::transport::Server::builder()
        .add_service(WorkerServer::new(WorkerService { status }))
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    Ok(())
}
