use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
use datafusion_proto::physical_plan::to_proto::serialize_physical_exprs;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf;
use flint_python::{MapInPythonExec, PythonAggregateUdf, PythonUdf};
use flint_sql::partition_values::{PartitionValue, PartitionValuesExec};
use flint_sql::text_source::{TextOptions, TextScanExec, TextWriterExec};
use flint_storage::StorageLevel;
use prost::Message;

use crate::{ShuffleBlock, ShuffleOutputPartitioning, ShuffleReaderExec, ShuffleWriterExec};

/// Encodes Flint's own plan nodes and Python UDFs inside DataFusion's physical-plan protobuf
/// (the extension codec every task's plan passes through on its way to an executor).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShuffleCodec;

#[derive(Clone, PartialEq, prost::Message)]
struct FlintPlanNode {
    #[prost(oneof = "flint_plan_node::Node", tags = "1, 2, 3, 4, 5, 6")]
    node: Option<flint_plan_node::Node>,
}

mod flint_plan_node {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(super) enum Node {
        #[prost(message, tag = "1")]
        Writer(super::ShuffleWriterNode),
        #[prost(message, tag = "2")]
        Reader(super::ShuffleReaderNode),
        #[prost(message, tag = "3")]
        MapInPython(super::MapInPythonNode),
        #[prost(message, tag = "4")]
        PartitionValues(super::PartitionValuesNode),
        #[prost(message, tag = "5")]
        TextScan(super::TextScanNode),
        #[prost(message, tag = "6")]
        TextWriter(super::TextWriterNode),
    }
}

const PARTITIONING_SINGLE: u32 = 0;
const PARTITIONING_HASH: u32 = 1;
const PARTITIONING_ROUND_ROBIN: u32 = 2;
const PARTITIONING_DIRECT: u32 = 3;

#[derive(Clone, PartialEq, prost::Message)]
struct ShuffleWriterNode {
    #[prost(uint32, tag = "1")]
    shuffle_id: u32,
    #[prost(uint32, tag = "2")]
    partitioning: u32,
    #[prost(uint64, tag = "3")]
    partition_count: u64,
    #[prost(message, repeated, tag = "4")]
    hash_exprs: Vec<protobuf::PhysicalExprNode>,
    /// The storage level of the cache the writer stores (Spark's name); empty for a shuffle.
    #[prost(string, tag = "5")]
    cache_level: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ShuffleReaderNode {
    #[prost(uint32, tag = "1")]
    shuffle_id: u32,
    #[prost(message, optional, tag = "2")]
    schema: Option<protobuf::Schema>,
    #[prost(message, repeated, tag = "3")]
    partitions: Vec<ReaderPartition>,
}

/// `mapInPandas`/`mapInArrow`: the function (as a Python UDF encodes it) and its output.
#[derive(Clone, PartialEq, prost::Message)]
struct MapInPythonNode {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bytes = "vec", tag = "2")]
    udf: Vec<u8>,
    #[prost(message, optional, tag = "3")]
    schema: Option<protobuf::Schema>,
}

/// A scan of the `text` data source: each partition's files and how lines are cut.
#[derive(Clone, PartialEq, prost::Message)]
struct TextScanNode {
    #[prost(message, repeated, tag = "1")]
    groups: Vec<TextFileGroup>,
    #[prost(message, optional, tag = "2")]
    schema: Option<protobuf::Schema>,
    #[prost(bool, tag = "3")]
    with_value: bool,
    #[prost(bool, tag = "4")]
    whole_text: bool,
    #[prost(string, optional, tag = "5")]
    line_sep: Option<String>,
}

/// A write of the `text` data source: the directory and the write's unique name part.
#[derive(Clone, PartialEq, prost::Message)]
struct TextWriterNode {
    #[prost(string, tag = "1")]
    directory: String,
    #[prost(string, tag = "2")]
    job: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TextFileGroup {
    #[prost(string, repeated, tag = "1")]
    files: Vec<String>,
}

/// `spark_partition_id()`, `monotonically_increasing_id()`, seeded random values.
#[derive(Clone, PartialEq, prost::Message)]
struct PartitionValuesNode {
    #[prost(message, repeated, tag = "1")]
    values: Vec<PartitionValueNode>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartitionValueNode {
    #[prost(string, tag = "1")]
    name: String,
    /// Which value: the `VALUE_*` constants.
    #[prost(uint32, tag = "2")]
    kind: u32,
    #[prost(int64, tag = "3")]
    seed: i64,
    /// `uniform`'s bounds (integers, or a double's bits), `randstr`'s length in `min`.
    #[prost(int64, tag = "4")]
    min: i64,
    #[prost(int64, tag = "5")]
    max: i64,
}

const VALUE_PARTITION_ID: u32 = 0;
const VALUE_MONOTONICALLY_INCREASING_ID: u32 = 1;
const VALUE_RAND: u32 = 2;
const VALUE_RANDN: u32 = 3;
const VALUE_UNIFORM_INTEGER: u32 = 4;
const VALUE_UNIFORM_DOUBLE: u32 = 5;
const VALUE_RANDSTR: u32 = 6;
const VALUE_UUID: u32 = 7;
const VALUE_POISSON: u32 = 8;

fn encode_partition_value(name: &str, value: PartitionValue) -> PartitionValueNode {
    let (kind, seed, min, max) = match value {
        PartitionValue::PartitionId => (VALUE_PARTITION_ID, 0, 0, 0),
        PartitionValue::MonotonicallyIncreasingId => (VALUE_MONOTONICALLY_INCREASING_ID, 0, 0, 0),
        PartitionValue::Rand(seed) => (VALUE_RAND, seed, 0, 0),
        PartitionValue::Randn(seed) => (VALUE_RANDN, seed, 0, 0),
        PartitionValue::UniformInteger { min, max, seed } => {
            (VALUE_UNIFORM_INTEGER, seed, min, max)
        }
        PartitionValue::UniformDouble { min, max, seed } => {
            (VALUE_UNIFORM_DOUBLE, seed, min as i64, max as i64)
        }
        PartitionValue::RandStr { length, seed } => (VALUE_RANDSTR, seed, i64::from(length), 0),
        PartitionValue::Uuid(seed) => (VALUE_UUID, seed, 0, 0),
        PartitionValue::Poisson { mean, seed } => (VALUE_POISSON, seed, mean as i64, 0),
    };
    PartitionValueNode {
        name: name.to_string(),
        kind,
        seed,
        min,
        max,
    }
}

fn decode_partition_value(node: &PartitionValueNode) -> Result<(String, PartitionValue)> {
    let (seed, min, max) = (node.seed, node.min, node.max);
    let value = match node.kind {
        VALUE_PARTITION_ID => PartitionValue::PartitionId,
        VALUE_MONOTONICALLY_INCREASING_ID => PartitionValue::MonotonicallyIncreasingId,
        VALUE_RAND => PartitionValue::Rand(seed),
        VALUE_RANDN => PartitionValue::Randn(seed),
        VALUE_UNIFORM_INTEGER => PartitionValue::UniformInteger { min, max, seed },
        VALUE_UNIFORM_DOUBLE => PartitionValue::UniformDouble {
            min: min as u64,
            max: max as u64,
            seed,
        },
        VALUE_RANDSTR => PartitionValue::RandStr {
            length: i32::try_from(min).map_err(|_| malformed(format!("randstr length {min}")))?,
            seed,
        },
        VALUE_UUID => PartitionValue::Uuid(seed),
        VALUE_POISSON => PartitionValue::Poisson {
            mean: min as u64,
            seed,
        },
        other => return Err(malformed(format!("unknown partition value {other}"))),
    };
    Ok((node.name.clone(), value))
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReaderPartition {
    #[prost(message, repeated, tag = "1")]
    blocks: Vec<Block>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Block {
    #[prost(uint32, tag = "1")]
    map_index: u32,
    #[prost(uint32, tag = "2")]
    reduce_id: u32,
    #[prost(string, tag = "3")]
    executor_id: String,
    #[prost(string, tag = "4")]
    data_path: String,
    #[prost(string, tag = "5")]
    index_path: String,
    #[prost(uint64, tag = "6")]
    map_id: u64,
    #[prost(string, tag = "7")]
    host: String,
    #[prost(uint32, tag = "8")]
    port: u32,
    #[prost(bool, tag = "9")]
    in_memory: bool,
    #[prost(uint64, tag = "10")]
    size: u64,
}

fn malformed(what: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Plan(format!("malformed Flint plan node: {what}"))
}

impl PhysicalExtensionCodec for ShuffleCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let node = FlintPlanNode::decode(buf).map_err(malformed)?;
        match node.node {
            Some(flint_plan_node::Node::Writer(writer)) => {
                let [input] = inputs else {
                    return Err(malformed("ShuffleWriterExec needs one input"));
                };
                let count = writer.partition_count as usize;
                let partitioning = match writer.partitioning {
                    PARTITIONING_SINGLE => ShuffleOutputPartitioning::Single,
                    PARTITIONING_ROUND_ROBIN => ShuffleOutputPartitioning::RoundRobin(count),
                    PARTITIONING_HASH => {
                        let schema = input.schema();
                        let exprs = writer
                            .hash_exprs
                            .iter()
                            .map(|expr| parse_physical_expr(expr, ctx, &schema, self))
                            .collect::<Result<Vec<_>>>()?;
                        ShuffleOutputPartitioning::Hash(exprs, count)
                    }
                    PARTITIONING_DIRECT => {
                        let schema = input.schema();
                        let expr = writer
                            .hash_exprs
                            .first()
                            .ok_or_else(|| malformed("direct partitioning without expression"))?;
                        ShuffleOutputPartitioning::Direct(
                            parse_physical_expr(expr, ctx, &schema, self)?,
                            count,
                        )
                    }
                    other => return Err(malformed(format!("unknown partitioning {other}"))),
                };
                if count == 0 {
                    return Err(malformed("zero output partitions"));
                }
                let writer_exec =
                    ShuffleWriterExec::new(Arc::clone(input), writer.shuffle_id, partitioning);
                Ok(Arc::new(if writer.cache_level.is_empty() {
                    writer_exec
                } else {
                    let level = StorageLevel::parse(&writer.cache_level).ok_or_else(|| {
                        malformed(format!("unknown storage level {}", writer.cache_level))
                    })?;
                    writer_exec.with_cache_level(level)
                }))
            }
            Some(flint_plan_node::Node::Reader(reader)) => {
                let schema = reader
                    .schema
                    .as_ref()
                    .ok_or_else(|| malformed("reader without schema"))?;
                let schema = Schema::try_from(schema).map_err(malformed)?;
                let partitions = reader
                    .partitions
                    .into_iter()
                    .map(|p| {
                        p.blocks
                            .into_iter()
                            .map(|b| {
                                Ok(ShuffleBlock {
                                    map_index: b.map_index,
                                    map_id: b.map_id,
                                    reduce_id: b.reduce_id,
                                    executor_id: b.executor_id,
                                    host: b.host,
                                    port: u16::try_from(b.port)
                                        .map_err(|_| malformed(format!("block port {}", b.port)))?,
                                    data_path: b.data_path,
                                    index_path: b.index_path,
                                    in_memory: b.in_memory,
                                    size: b.size,
                                })
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(ShuffleReaderExec::new(
                    reader.shuffle_id,
                    Arc::new(schema),
                    partitions,
                )))
            }
            Some(flint_plan_node::Node::MapInPython(map)) => {
                let [input] = inputs else {
                    return Err(malformed("MapInPythonExec needs one input"));
                };
                let schema = map
                    .schema
                    .as_ref()
                    .ok_or_else(|| malformed("MapInPythonExec without schema"))?;
                let schema = Schema::try_from(schema).map_err(malformed)?;
                Ok(Arc::new(MapInPythonExec::new(
                    Arc::clone(input),
                    PythonUdf::decode(&map.name, &map.udf)?,
                    Arc::new(schema),
                )))
            }
            Some(flint_plan_node::Node::PartitionValues(values)) => {
                let [input] = inputs else {
                    return Err(malformed("PartitionValuesExec needs one input"));
                };
                let values = values
                    .values
                    .iter()
                    .map(decode_partition_value)
                    .collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(PartitionValuesExec::try_new(
                    Arc::clone(input),
                    values,
                )?))
            }
            Some(flint_plan_node::Node::TextScan(scan)) => {
                let schema = scan
                    .schema
                    .as_ref()
                    .ok_or_else(|| malformed("TextScanExec without schema"))?;
                let schema = Schema::try_from(schema).map_err(malformed)?;
                Ok(Arc::new(TextScanExec::new(
                    scan.groups.into_iter().map(|g| g.files).collect(),
                    Arc::new(schema),
                    scan.with_value,
                    TextOptions {
                        whole_text: scan.whole_text,
                        line_sep: scan.line_sep,
                    },
                )))
            }
            Some(flint_plan_node::Node::TextWriter(writer)) => {
                let [input] = inputs else {
                    return Err(malformed("TextWriterExec needs one input"));
                };
                Ok(Arc::new(TextWriterExec::new(
                    Arc::clone(input),
                    writer.directory,
                    writer.job,
                )))
            }
            None => Err(malformed("empty node")),
        }
    }

    /// A Python UDF travels with its definition (the pickled function and how to run it);
    /// other functions by name, resolved in the executor's registry.
    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        match PythonUdf::of(node) {
            Some(udf) => udf.encode(buf),
            None => Ok(()),
        }
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        if buf.is_empty() {
            return Err(DataFusionError::Plan(format!("unknown function {name}")));
        }
        Ok(Arc::new(ScalarUDF::new_from_impl(PythonUdf::decode(
            name, buf,
        )?)))
    }

    /// A Python aggregate travels with its definition, like a Python UDF.
    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        match PythonAggregateUdf::of(node) {
            Some(udaf) => udaf.definition().encode(buf),
            None => Ok(()),
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        if buf.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "unknown aggregate function {name}"
            )));
        }
        Ok(Arc::new(AggregateUDF::new_from_impl(
            PythonAggregateUdf::new(PythonUdf::decode(name, buf)?),
        )))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let message = if let Some(writer) = node.downcast_ref::<ShuffleWriterExec>() {
            let (partitioning, hash_exprs) = match writer.partitioning() {
                ShuffleOutputPartitioning::Single => (PARTITIONING_SINGLE, vec![]),
                ShuffleOutputPartitioning::RoundRobin(_) => (PARTITIONING_ROUND_ROBIN, vec![]),
                ShuffleOutputPartitioning::Hash(exprs, _) => (
                    PARTITIONING_HASH,
                    serialize_physical_exprs(exprs, self, proto_converter)?,
                ),
                ShuffleOutputPartitioning::Direct(expr, _) => (
                    PARTITIONING_DIRECT,
                    serialize_physical_exprs(std::slice::from_ref(expr), self, proto_converter)?,
                ),
            };
            flint_plan_node::Node::Writer(ShuffleWriterNode {
                shuffle_id: writer.shuffle_id(),
                partitioning,
                partition_count: writer.partitioning().partition_count() as u64,
                hash_exprs,
                cache_level: writer
                    .cache_level()
                    .map(|level| level.name())
                    .unwrap_or_default(),
            })
        } else if let Some(map) = node.downcast_ref::<MapInPythonExec>() {
            let mut udf = Vec::new();
            map.udf().encode(&mut udf)?;
            flint_plan_node::Node::MapInPython(MapInPythonNode {
                name: map.udf().name().to_string(),
                udf,
                schema: Some(protobuf::Schema::try_from(map.schema().as_ref()).map_err(malformed)?),
            })
        } else if let Some(values) = node.downcast_ref::<PartitionValuesExec>() {
            flint_plan_node::Node::PartitionValues(PartitionValuesNode {
                values: values
                    .values()
                    .iter()
                    .map(|(name, value)| encode_partition_value(name, *value))
                    .collect(),
            })
        } else if let Some(scan) = node.downcast_ref::<TextScanExec>() {
            flint_plan_node::Node::TextScan(TextScanNode {
                groups: scan
                    .groups()
                    .iter()
                    .map(|files| TextFileGroup {
                        files: files.clone(),
                    })
                    .collect(),
                schema: Some(
                    protobuf::Schema::try_from(scan.table_schema().as_ref()).map_err(malformed)?,
                ),
                with_value: scan.with_value(),
                whole_text: scan.options().whole_text,
                line_sep: scan.options().line_sep.clone(),
            })
        } else if let Some(writer) = node.downcast_ref::<TextWriterExec>() {
            flint_plan_node::Node::TextWriter(TextWriterNode {
                directory: writer.directory().to_string(),
                job: writer.job().to_string(),
            })
        } else if let Some(reader) = node.downcast_ref::<ShuffleReaderExec>() {
            let schema = protobuf::Schema::try_from(reader.schema().as_ref()).map_err(malformed)?;
            flint_plan_node::Node::Reader(ShuffleReaderNode {
                shuffle_id: reader.shuffle_id(),
                schema: Some(schema),
                partitions: reader
                    .partitions()
                    .iter()
                    .map(|blocks| ReaderPartition {
                        blocks: blocks
                            .iter()
                            .map(|b| Block {
                                map_index: b.map_index,
                                map_id: b.map_id,
                                reduce_id: b.reduce_id,
                                executor_id: b.executor_id.clone(),
                                host: b.host.clone(),
                                port: u32::from(b.port),
                                data_path: b.data_path.clone(),
                                index_path: b.index_path.clone(),
                                in_memory: b.in_memory,
                                size: b.size,
                            })
                            .collect(),
                    })
                    .collect(),
            })
        } else {
            return Err(DataFusionError::Internal(format!(
                "cannot serialize plan node {}; this is a Flint bug",
                node.name()
            )));
        };
        FlintPlanNode {
            node: Some(message),
        }
        .encode(buf)
        .map_err(|e| DataFusionError::Internal(e.to_string()))
    }
}
