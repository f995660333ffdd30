//! Python UDFs a client sends (`CommonInlineUserDefinedFunction` with a `PythonUDF`): each
//! becomes a [`flint_python::PythonUdf`] registered in the planning state under a name of
//! its own, so the expression that calls it is planned as SQL like any other; executors run
//! it in their Python workers.

use std::sync::{Arc, Mutex};

use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use flint_python::{EvalType, PythonAggregateUdf, PythonRunner, PythonUdf};
use spark_connect::CommonInlineUserDefinedFunction;
use spark_connect::common_inline_user_defined_function::Function;

use crate::error::{ConnectError, missing};

/// The Python UDFs one request's expressions call, waiting to be registered for planning.
#[derive(Debug)]
pub struct PythonUdfs {
    runner: PythonRunner,
    pending: Mutex<Vec<PythonUdf>>,
}

impl PythonUdfs {
    /// The UDFs of a request of `session`, run with its application's Python settings.
    pub fn new(session: &flint::SparkSession) -> Self {
        PythonUdfs {
            runner: runner(session),
            pending: Mutex::default(),
        }
    }

    /// The name under which a call of `udf` is planned (the UDF waits in
    /// [`PythonUdfs::take_pending`] to be registered under it).
    pub fn call(
        &self,
        udf: &CommonInlineUserDefinedFunction,
        argument_names: Vec<String>,
    ) -> Result<String, ConnectError> {
        let key = match udf.function.as_ref() {
            Some(Function::PythonUdf(python)) => PythonUdf::key_of(&python.command),
            _ => 0,
        };
        // A call with keywords is its own function: its arguments go to other parameters.
        let name = if argument_names.iter().all(String::is_empty) {
            format!("__flint_python_udf_{key:016x}")
        } else {
            let keywords = PythonUdf::key_of(argument_names.join(",").as_bytes());
            format!("__flint_python_udf_{key:016x}_{keywords:016x}")
        };
        let function = python_udf(&self.runner, udf, &name)?.with_argument_names(argument_names);
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(function);
        Ok(name)
    }

    /// Registers the UDFs called since the last time in `registry`.
    pub fn register_pending(
        &self,
        registry: &mut dyn FunctionRegistry,
    ) -> datafusion::common::Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for udf in pending {
            register(registry, udf)?;
        }
        Ok(())
    }
}

/// Registers `udf` in `registry` under its name: an aggregate if its eval type aggregates
/// a group (`pandas_udf` of Series to a scalar), else a scalar function.
pub fn register(
    registry: &mut dyn FunctionRegistry,
    udf: PythonUdf,
) -> datafusion::common::Result<()> {
    if udf.eval_type().is_aggregate() {
        registry.register_udaf(Arc::new(AggregateUDF::new_from_impl(
            PythonAggregateUdf::new(udf),
        )))?;
    } else {
        registry.register_udf(Arc::new(ScalarUDF::new_from_impl(udf)))?;
    }
    Ok(())
}

/// How `session`'s executors run Python: `spark.pyspark.python` (else `PYSPARK_PYTHON`,
/// else `python3`), `spark.python.worker.reuse` (default true) and the Python files of
/// `spark.submit.pyFiles` on the workers' path.
pub fn runner(session: &flint::SparkSession) -> PythonRunner {
    let conf = session.conf();
    PythonRunner {
        python: crate::launcher::python_interpreter(conf),
        // A bad value was refused when the application started (`SparkContext::start`).
        reuse_worker: conf
            .value(&flint_conf::keys::PYTHON_WORKER_REUSE)
            .unwrap_or_default(),
        python_path: conf
            .get(flint_conf::keys::SUBMIT_PY_FILES.key)
            .map(|files| {
                files
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `udf` as a Flint Python UDF named `name`.
pub fn python_udf(
    runner: &PythonRunner,
    udf: &CommonInlineUserDefinedFunction,
    name: &str,
) -> Result<PythonUdf, ConnectError> {
    let python = match udf.function.as_ref() {
        Some(Function::PythonUdf(python)) => python,
        Some(_) => {
            return Err(ConnectError::Unsupported(format!(
                "the Scala or Java user-defined function {}: Flint runs Python UDFs only",
                udf.function_name
            )));
        }
        None => return Err(missing("CommonInlineUserDefinedFunction.function")),
    };
    let eval_type = EvalType::from_code(python.eval_type).ok_or_else(|| {
        ConnectError::Unsupported(format!(
            "the Python UDF {} of eval type {}: Flint runs row-at-a-time, scalar and grouped-aggregate pandas and Arrow UDFs",
            udf.function_name, python.eval_type
        ))
    })?;
    let output_type = crate::types::from_connect(
        python
            .output_type
            .as_ref()
            .ok_or_else(|| missing("PythonUDF.output_type"))?,
    )?;
    Ok(PythonUdf::new(
        name,
        python.command.to_vec(),
        eval_type,
        output_type,
        python.python_ver.clone(),
        udf.deterministic,
        runner.clone(),
    ))
}
