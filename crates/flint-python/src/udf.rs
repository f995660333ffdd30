//! A Python UDF as a DataFusion scalar function, and its encoding inside a task's plan.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_empty_array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion_proto::protobuf::ArrowType;
use prost::Message;

use crate::worker;

/// The kinds of Python UDF Flint evaluates (PySpark's `PythonEvalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvalType {
    /// `udf(f)`: `f` called once per row.
    Batched,
    /// `udf(f, useArrow=True)`: once per row, fed through Arrow.
    ArrowBatched,
    /// `pandas_udf(f)` of Series to Series.
    ScalarPandas,
    /// `pandas_udf(f)` of an iterator of Series to an iterator of Series.
    ScalarPandasIter,
    /// `arrow_udf(f)` of Arrow arrays to an Arrow array.
    ScalarArrow,
    /// `arrow_udf(f)` of an iterator of arrays to an iterator of arrays.
    ScalarArrowIter,
    /// `pandas_udf(f)` of Series to a scalar: an aggregate, one call per group.
    GroupedAggPandas,
    /// `pandas_udf(f)` of an iterator of Series to a scalar: an aggregate.
    GroupedAggPandasIter,
    /// `arrow_udf(f)` of arrays to a scalar: an aggregate, one call per group.
    GroupedAggArrow,
    /// `arrow_udf(f)` of an iterator of arrays to a scalar: an aggregate.
    GroupedAggArrowIter,
    /// `mapInPandas(f)`: an iterator of a partition's DataFrames to an iterator of DataFrames.
    MapPandasIter,
    /// `mapInArrow(f)`: an iterator of a partition's record batches to an iterator of batches.
    MapArrowIter,
    /// `groupBy(...).applyInPandas(f)`: a group's DataFrame (and its key) to a DataFrame.
    GroupedMapPandas,
    /// `groupBy(...).applyInArrow(f)`: a group's Arrow table (and its key) to a table.
    GroupedMapArrow,
}

impl EvalType {
    /// The eval type PySpark numbers `code`, if Flint evaluates it.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            100 => EvalType::Batched,
            101 => EvalType::ArrowBatched,
            200 => EvalType::ScalarPandas,
            204 => EvalType::ScalarPandasIter,
            250 => EvalType::ScalarArrow,
            251 => EvalType::ScalarArrowIter,
            202 => EvalType::GroupedAggPandas,
            217 => EvalType::GroupedAggPandasIter,
            252 => EvalType::GroupedAggArrow,
            254 => EvalType::GroupedAggArrowIter,
            205 => EvalType::MapPandasIter,
            207 => EvalType::MapArrowIter,
            201 => EvalType::GroupedMapPandas,
            209 => EvalType::GroupedMapArrow,
            _ => return None,
        })
    }

    /// PySpark's number for this eval type.
    pub fn code(self) -> i32 {
        match self {
            EvalType::Batched => 100,
            EvalType::ArrowBatched => 101,
            EvalType::ScalarPandas => 200,
            EvalType::ScalarPandasIter => 204,
            EvalType::ScalarArrow => 250,
            EvalType::ScalarArrowIter => 251,
            EvalType::GroupedAggPandas => 202,
            EvalType::GroupedAggPandasIter => 217,
            EvalType::GroupedAggArrow => 252,
            EvalType::GroupedAggArrowIter => 254,
            EvalType::MapPandasIter => 205,
            EvalType::MapArrowIter => 207,
            EvalType::GroupedMapPandas => 201,
            EvalType::GroupedMapArrow => 209,
        }
    }

    /// Whether the function maps a partition's batches to batches (a relation, not an
    /// expression: [`crate::MapInPython`]); a grouped map does so group by group.
    pub fn is_map(self) -> bool {
        matches!(
            self,
            EvalType::MapPandasIter
                | EvalType::MapArrowIter
                | EvalType::GroupedMapPandas
                | EvalType::GroupedMapArrow
        )
    }

    /// Whether the function maps one group at a time (`applyInPandas`, `applyInArrow`): its
    /// input's key columns are named [`crate::GROUP_KEY_PREFIX`]`{i}`, and the input is
    /// partitioned by them.
    pub fn is_grouped_map(self) -> bool {
        matches!(self, EvalType::GroupedMapPandas | EvalType::GroupedMapArrow)
    }

    /// Whether the function aggregates a group's rows into one value
    /// ([`crate::PythonAggregateUdf`]) rather than giving a value per row.
    pub fn is_aggregate(self) -> bool {
        matches!(
            self,
            EvalType::GroupedAggPandas
                | EvalType::GroupedAggPandasIter
                | EvalType::GroupedAggArrow
                | EvalType::GroupedAggArrowIter
        )
    }
}

/// How executors run Python for an application: the interpreter (`spark.pyspark.python`)
/// and whether a worker serves more than one request (`spark.python.worker.reuse`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PythonRunner {
    /// The interpreter, a path or a name looked up on `PATH`.
    pub python: String,
    /// Whether workers go back to the executor's pool after a request.
    pub reuse_worker: bool,
    /// The application's Python files (`spark.submit.pyFiles`): archives and `.py` files
    /// whose modules the functions import, as absolute paths.
    pub python_path: Vec<String>,
}

/// A Python UDF: the client's pickled function, evaluated batch by batch by Python workers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PythonUdf {
    name: String,
    command: Arc<[u8]>,
    key: u64,
    eval_type: EvalType,
    output_type: DataType,
    python_version: String,
    deterministic: bool,
    runner: PythonRunner,
    /// The keyword of each argument of the call (`calc(b=..., a=...)`), empty for positional
    /// ones; the worker passes the named ones as keyword arguments.
    argument_names: Vec<String>,
    signature: Signature,
}

/// A Python UDF as it travels inside a task's plan.
#[derive(Clone, PartialEq, prost::Message)]
struct PythonUdfNode {
    #[prost(bytes = "vec", tag = "1")]
    command: Vec<u8>,
    #[prost(int32, tag = "2")]
    eval_type: i32,
    #[prost(message, optional, tag = "3")]
    output_type: Option<ArrowType>,
    #[prost(string, tag = "4")]
    python_version: String,
    #[prost(bool, tag = "5")]
    deterministic: bool,
    #[prost(string, tag = "6")]
    python: String,
    #[prost(bool, tag = "7")]
    reuse_worker: bool,
    #[prost(string, repeated, tag = "8")]
    python_path: Vec<String>,
    #[prost(string, repeated, tag = "9")]
    argument_names: Vec<String>,
}

impl PythonUdf {
    /// A UDF named `name` (the name plans and SQL call it by) of a pickled `command`
    /// (`(function, return type)` as PySpark's `CloudPickleSerializer` wrote it).
    pub fn new(
        name: impl Into<String>,
        command: impl Into<Arc<[u8]>>,
        eval_type: EvalType,
        output_type: DataType,
        python_version: impl Into<String>,
        deterministic: bool,
        runner: PythonRunner,
    ) -> Self {
        let command = command.into();
        PythonUdf {
            name: name.into(),
            key: Self::key_of(&command),
            command,
            eval_type,
            output_type,
            python_version: python_version.into(),
            deterministic,
            runner,
            argument_names: Vec::new(),
            // Never folded into a constant on the driver, never evaluated twice for a row:
            // Spark does not fold Python UDFs either.
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                Volatility::Volatile,
            ),
        }
    }

    /// The UDF called with `names` as its arguments' keywords (empty for positional ones).
    pub fn with_argument_names(mut self, names: Vec<String>) -> Self {
        self.argument_names = names;
        self
    }

    /// The keyword of each argument, empty for positional ones.
    pub fn argument_names(&self) -> &[String] {
        &self.argument_names
    }

    /// The key of a pickled function: the same bytes, the same key.
    pub fn key_of(command: &[u8]) -> u64 {
        let mut hasher = DefaultHasher::new();
        command.hash(&mut hasher);
        hasher.finish()
    }

    /// A key naming the pickled function within one worker (the same bytes, the same key).
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The name plans call it by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pickled function.
    pub fn command(&self) -> &[u8] {
        &self.command
    }

    /// What kind of function it is.
    pub fn eval_type(&self) -> EvalType {
        self.eval_type
    }

    /// The type of its results.
    pub fn output_type(&self) -> &DataType {
        &self.output_type
    }

    /// The client's Python version (`major.minor`); workers of another version refuse it.
    pub fn python_version(&self) -> &str {
        &self.python_version
    }

    /// Whether the client declared it deterministic.
    pub fn deterministic(&self) -> bool {
        self.deterministic
    }

    /// How it is run.
    pub fn runner(&self) -> &PythonRunner {
        &self.runner
    }

    /// The UDF itself if `udf` is a Python UDF.
    pub fn of(udf: &ScalarUDF) -> Option<&PythonUdf> {
        udf.inner().as_ref().downcast_ref::<PythonUdf>()
    }

    /// Appends the UDF's definition to `buf`, for a task's plan.
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<()> {
        let node = PythonUdfNode {
            command: self.command.to_vec(),
            eval_type: self.eval_type.code(),
            output_type: Some((&self.output_type).try_into()?),
            python_version: self.python_version.clone(),
            deterministic: self.deterministic,
            python: self.runner.python.clone(),
            reuse_worker: self.runner.reuse_worker,
            python_path: self.runner.python_path.clone(),
            argument_names: self.argument_names.clone(),
        };
        node.encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("encoding a Python UDF: {e}")))
    }

    /// The UDF `name` whose definition [`PythonUdf::encode`] wrote.
    pub fn decode(name: &str, buf: &[u8]) -> Result<PythonUdf> {
        let malformed =
            |what: String| DataFusionError::Plan(format!("malformed Python UDF {name}: {what}"));
        let node = PythonUdfNode::decode(buf).map_err(|e| malformed(e.to_string()))?;
        let eval_type = EvalType::from_code(node.eval_type)
            .ok_or_else(|| malformed(format!("unknown eval type {}", node.eval_type)))?;
        let output_type = node
            .output_type
            .as_ref()
            .ok_or_else(|| malformed("no output type".to_string()))?
            .try_into()
            .map_err(|e| malformed(format!("{e}")))?;
        Ok(PythonUdf::new(
            name,
            node.command,
            eval_type,
            output_type,
            node.python_version,
            node.deterministic,
            PythonRunner {
                python: node.python,
                reuse_worker: node.reuse_worker,
                python_path: node.python_path,
            },
        )
        .with_argument_names(node.argument_names))
    }
}

impl ScalarUDFImpl for PythonUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.output_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        if rows == 0 {
            return Ok(ColumnarValue::Array(new_empty_array(&self.output_type)));
        }
        let arrays = args
            .args
            .iter()
            .map(|arg| arg.to_array(rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let result = worker::named_arguments_batch(arrays, rows, &self.argument_names)
            .and_then(|batch| worker::evaluate(self, &batch))
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(ColumnarValue::Array(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_udf_survives_its_encoding() {
        let udf = PythonUdf::new(
            "plus_one",
            b"pickled".to_vec(),
            EvalType::ScalarPandas,
            DataType::Int64,
            "3.11",
            true,
            PythonRunner {
                python: "python3".into(),
                reuse_worker: true,
                python_path: vec!["/apps/deps.zip".into()],
            },
        );
        let mut buf = Vec::new();
        udf.encode(&mut buf).unwrap();
        let decoded = PythonUdf::decode("plus_one", &buf).unwrap();
        assert_eq!(decoded, udf);
        assert!(PythonUdf::decode("x", b"\xff\xff").is_err());
    }
}
