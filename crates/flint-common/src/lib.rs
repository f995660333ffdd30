//! Pieces every Flint role shares: identifiers in Spark's formats and the log formatter that
//! prints Spark's layout (`26/11/21 10:15:02 INFO DAGScheduler: ...`).

mod html;
mod ids;
mod logging;
pub mod prometheus;

pub use html::{escape_html, kill_form};
pub use ids::{
    is_path_safe_id, java_date, local_app_id, now_millis, standalone_app_id, standalone_driver_id,
    worker_id,
};
pub use logging::{SparkLogFormat, component_name};
