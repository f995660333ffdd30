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
use prost::Message;

use crate::{ShuffleBlock, ShuffleOutputPartitioning, ShuffleReaderExec, ShuffleWriterExec};

/// Encodes Flint's own plan nodes and Python UDFs inside DataFusion's physical-plan protobuf
/// (the extension codec every task's plan passes through on its way to an executor).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShuffleCodec;

#[derive(Clone, PartialEq, prost::Message)]
struct FlintPlanNode {
    #[prost(oneof = "flint_plan_node::Node", tags = "1, 2, 3")]
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
    }
}

const PARTITIONING_SINGLE: u32 = 0;
const PARTITIONING_HASH: u32 = 1;
const PARTITIONING_ROUND_ROBIN: u32 = 2;

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
                    other => return Err(malformed(format!("unknown partitioning {other}"))),
                };
                if count == 0 {
                    return Err(malformed("zero output partitions"));
                }
                Ok(Arc::new(ShuffleWriterExec::new(
                    Arc::clone(input),
                    writer.shuffle_id,
                    partitioning,
                )))
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
            };
            flint_plan_node::Node::Writer(ShuffleWriterNode {
                shuffle_id: writer.shuffle_id(),
                partitioning,
                partition_count: writer.partitioning().partition_count() as u64,
                hash_exprs,
            })
        } else if let Some(map) = node.downcast_ref::<MapInPythonExec>() {
            let mut udf = Vec::new();
            map.udf().encode(&mut udf)?;
            flint_plan_node::Node::MapInPython(MapInPythonNode {
                name: map.udf().name().to_string(),
                udf,
                schema: Some(protobuf::Schema::try_from(map.schema().as_ref()).map_err(malformed)?),
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
