//! Values that depend on where a row is computed: `spark_partition_id()`,
//! `monotonically_increasing_id()` and the seeded random functions `rand`, `randn`,
//! `uniform`, `randstr`, which Spark computes per partition (`Nondeterministic.initialize(
//! partitionIndex)`), each random one from its own `XORShiftRandom(seed + partitionIndex)`
//! advanced row by row. Spark's generator is reproduced bit for bit, so a seeded query
//! answers what Spark's does on the same partitioning.
//!
//! A scalar function cannot know its partition, so these are planned as a plan node: the
//! functions are placeholders that [`SparkPartitionValues`] (an analyzer rule) replaces by
//! columns of a [`PartitionValues`] node it puts under the expression's node; its physical
//! node [`PartitionValuesExec`] knows the partition it runs and keeps the generators'
//! state across the partition's batches.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{
    Column, DFSchema, DFSchemaRef, DataFusionError, Result, ScalarValue, plan_err,
};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    ColumnarValue, Expr, Extension, LogicalPlan, Projection, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

/// One value a [`PartitionValues`] node computes for each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum PartitionValue {
    /// `spark_partition_id()`: the partition's index (int).
    PartitionId,
    /// `monotonically_increasing_id()`: the partition index in the upper 31 bits, the row's
    /// position in the partition in the lower 33 (bigint).
    MonotonicallyIncreasingId,
    /// `rand(seed)`: uniform in [0, 1) (double).
    Rand(i64),
    /// `randn(seed)`: standard normal (double).
    Randn(i64),
    /// `uniform(min, max, seed)` of integers: `min + rand * (max - min)`, truncated (bigint
    /// here, cast to the call's type).
    UniformInteger { min: i64, max: i64, seed: i64 },
    /// `uniform(min, max, seed)` of other numbers (double, cast to the call's type).
    UniformDouble { min: u64, max: u64, seed: i64 },
    /// `randstr(length, seed)`: letters and digits (string).
    RandStr { length: i32, seed: i64 },
    /// `uuid(seed)`: a version 4 UUID drawn from a Mersenne Twister, as Spark's
    /// `RandomUUIDGenerator(seed + partitionIndex)` draws it (string).
    Uuid(i64),
    /// How many times `sample(withReplacement = true)` keeps a row: a Poisson draw of mean
    /// `mean` (an `f64`'s bits), as Spark's `PoissonSampler` draws it from commons-math's
    /// `PoissonDistribution` on a `Well19937c` seeded by `PartitionwiseSampledRDD` (the
    /// partition's turn of `java.util.Random(seed).nextLong()`) (int).
    Poisson { mean: u64, seed: i64 },
}

impl PartitionValue {
    fn data_type(self) -> DataType {
        match self {
            PartitionValue::PartitionId | PartitionValue::Poisson { .. } => DataType::Int32,
            PartitionValue::MonotonicallyIncreasingId | PartitionValue::UniformInteger { .. } => {
                DataType::Int64
            }
            PartitionValue::Rand(_)
            | PartitionValue::Randn(_)
            | PartitionValue::UniformDouble { .. } => DataType::Float64,
            PartitionValue::RandStr { .. } | PartitionValue::Uuid(_) => DataType::Utf8,
        }
    }

    fn seed(self) -> i64 {
        match self {
            PartitionValue::Rand(seed)
            | PartitionValue::Randn(seed)
            | PartitionValue::UniformInteger { seed, .. }
            | PartitionValue::UniformDouble { seed, .. }
            | PartitionValue::RandStr { seed, .. }
            | PartitionValue::Uuid(seed)
            | PartitionValue::Poisson { seed, .. } => seed,
            PartitionValue::PartitionId | PartitionValue::MonotonicallyIncreasingId => 0,
        }
    }
}

/// Spark's `XORShiftRandom` (a `java.util.Random` whose `next` is an xorshift of a seed
/// scrambled by MurmurHash3), with `Random`'s `nextDouble`, `nextInt` and `nextGaussian`.
#[derive(Debug, Clone)]
pub struct XorShiftRandom {
    seed: u64,
    next_gaussian: Option<f64>,
}

impl XorShiftRandom {
    /// The generator Spark makes of `seed`.
    pub fn new(seed: i64) -> Self {
        let bytes = seed.to_be_bytes();
        let low = murmur3_bytes(&bytes, 0x3c07_4a61);
        let high = murmur3_bytes(&bytes, low);
        XorShiftRandom {
            seed: ((high as i32 as i64 as u64) << 32) | u64::from(low),
            next_gaussian: None,
        }
    }

    fn next(&mut self, bits: u32) -> u32 {
        let mut next = self.seed ^ (self.seed << 21);
        next ^= next >> 35;
        next ^= next << 4;
        self.seed = next;
        (next & ((1u64 << bits) - 1)) as u32
    }

    /// `Random.nextInt()`.
    pub fn next_int(&mut self) -> i32 {
        self.next(32) as i32
    }

    /// `Random.nextInt(bound)`: uniform in [0, bound), Java's rejection of the biased tail.
    pub fn next_int_bounded(&mut self, bound: i32) -> i32 {
        if bound <= 0 {
            return 0;
        }
        let mut r = self.next(31) as i32;
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31) as i32;
        }
    }

    /// `Random.nextDouble()`: uniform in [0, 1).
    pub fn next_double(&mut self) -> f64 {
        let high = u64::from(self.next(26)) << 27;
        let low = u64::from(self.next(27));
        (high + low) as f64 * f64::from_bits(0x3ca0_0000_0000_0000) // 2^-53
    }

    /// `Random.nextGaussian()`: Marsaglia's polar method, one value kept for the next call.
    pub fn next_gaussian(&mut self) -> f64 {
        if let Some(value) = self.next_gaussian.take() {
            return value;
        }
        loop {
            let v1 = 2.0 * self.next_double() - 1.0;
            let v2 = 2.0 * self.next_double() - 1.0;
            let s = v1 * v1 + v2 * v2;
            if s < 1.0 && s != 0.0 {
                let multiplier = (-2.0 * s.ln() / s).sqrt();
                self.next_gaussian = Some(v2 * multiplier);
                return v1 * multiplier;
            }
        }
    }
}

/// commons-math's `Well19937c`, the generator of its `PoissonDistribution`: a WELL
/// generator of 624 words with Matsumoto-Kurita tempering.
#[derive(Debug, Clone)]
pub struct Well19937c {
    v: Box<[u32; WELL_WORDS]>,
    index: usize,
}

const WELL_WORDS: usize = 624;

impl Well19937c {
    /// The generator `setSeed(long)` makes: the seed's high and low words, the rest of the
    /// pool filled as a Mersenne Twister fills it.
    pub fn new(seed: i64) -> Self {
        let mut v = Box::new([0u32; WELL_WORDS]);
        v[0] = ((seed as u64) >> 32) as u32;
        v[1] = seed as u32;
        for i in 2..WELL_WORDS {
            // Java widens the previous word to a signed long before shifting it.
            let l = i64::from(v[i - 2] as i32);
            v[i] = (1_812_433_253i64
                .wrapping_mul(l ^ (l >> 30))
                .wrapping_add(i as i64)
                & 0xffff_ffff) as u32;
        }
        Well19937c { v, index: 0 }
    }

    fn next(&mut self, bits: u32) -> u32 {
        const R: usize = WELL_WORDS;
        let index = self.index;
        let index_rm1 = (index + R - 1) % R;
        let index_rm2 = (index + R - 2) % R;
        let v0 = self.v[index];
        let v_m1 = self.v[(index + 70) % R];
        let v_m2 = self.v[(index + 179) % R];
        let v_m3 = self.v[(index + 449) % R];
        let z0 = (0x8000_0000 & self.v[index_rm1]) ^ (0x7fff_ffff & self.v[index_rm2]);
        let z1 = (v0 ^ (v0 << 25)) ^ (v_m1 ^ (v_m1 >> 27));
        let z2 = (v_m2 >> 9) ^ (v_m3 ^ (v_m3 >> 1));
        let z3 = z1 ^ z2;
        let mut z4 = z0 ^ (z1 ^ (z1 << 9)) ^ (z2 ^ (z2 << 21)) ^ (z3 ^ (z3 >> 21));
        self.v[index] = z3;
        self.v[index_rm1] = z4;
        self.v[index_rm2] &= 0x8000_0000;
        self.index = index_rm1;
        z4 ^= (z4 << 7) & 0xe46e_1700;
        z4 ^= (z4 << 15) & 0x9b86_8000;
        z4 >> (32 - bits)
    }

    /// `BitsStreamGenerator.nextDouble`: 52 random bits in [0, 1).
    pub fn next_double(&mut self) -> f64 {
        let high = u64::from(self.next(26)) << 26;
        let low = u64::from(self.next(26));
        (high | low) as f64 * f64::powi(2.0, -52)
    }

    /// `PoissonDistribution.sample()` of `mean`: below a mean of 40, commons-math's product
    /// of uniforms (Spark's draws exactly); from 40 on, the sum of draws of smaller means
    /// (the same distribution, not Spark's draws).
    pub fn next_poisson(&mut self, mean: f64) -> i32 {
        if mean.is_nan() || mean <= 0.0 || mean.is_infinite() {
            return 0;
        }
        if mean >= 40.0 {
            let parts = (mean / 39.0).ceil();
            let total: i64 = (0..parts as i64)
                .map(|_| i64::from(self.next_poisson(mean / parts)))
                .sum();
            return i32::try_from(total).unwrap_or(i32::MAX);
        }
        let p = (-mean).exp();
        let mut n = 0i64;
        let mut r = 1.0;
        while (n as f64) < 1000.0 * mean {
            r *= self.next_double();
            if r >= p {
                n += 1;
            } else {
                break;
            }
        }
        i32::try_from(n).unwrap_or(i32::MAX)
    }
}

/// The seed `PartitionwiseSampledRDD` gives partition `partition` of a sample seeded
/// `seed`: the partition's turn of `new java.util.Random(seed).nextLong()`.
fn partition_seed(seed: i64, partition: i32) -> i64 {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    let mut state = (seed as u64 ^ MULTIPLIER) & MASK;
    let mut next = || {
        state = (state.wrapping_mul(MULTIPLIER).wrapping_add(0xB)) & MASK;
        (state >> 16) as u32 as i32
    };
    let mut long = 0i64;
    for _ in 0..=partition.max(0) {
        let high = i64::from(next()) << 32;
        long = high.wrapping_add(i64::from(next()));
    }
    long
}

/// A plan over `input` with one more int column, `name`: how many times
/// `sample(withReplacement = true, fraction = mean, seed)` keeps each row, drawn per
/// partition as Spark's `PoissonSampler` draws it.
pub fn poisson_counts(input: LogicalPlan, name: &str, mean: f64, seed: i64) -> Result<LogicalPlan> {
    let node = PartitionValues::try_new(
        input,
        vec![(
            name.to_string(),
            PartitionValue::Poisson {
                mean: mean.to_bits(),
                seed,
            },
        )],
    )?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    }))
}

/// Scala's `MurmurHash3.bytesHash`.
fn murmur3_bytes(data: &[u8], seed: u32) -> u32 {
    fn mix_last(hash: u32, k: u32) -> u32 {
        hash ^ k
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593)
    }
    let mut hash = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        hash = mix_last(hash, k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, byte) in tail.iter().enumerate() {
            k ^= u32::from(*byte) << (8 * i);
        }
        hash = mix_last(hash, k);
    }
    hash ^= data.len() as u32;
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85eb_ca6b);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xc2b2_ae35);
    hash ^ (hash >> 16)
}

/// The names of the placeholder functions, as SQL and DataFrame calls find them.
const FUNCTION_NAMES: &[&str] = &[
    "spark_partition_id",
    "monotonically_increasing_id",
    "rand",
    "random",
    "randn",
    "uniform",
    "randstr",
    "uuid",
];

/// The placeholder functions for the registry; the analyzer replaces every call.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    FUNCTION_NAMES
        .iter()
        .map(|name| {
            Arc::new(ScalarUDF::new_from_impl(Placeholder {
                name,
                signature: Signature::one_of(
                    vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                    Volatility::Volatile,
                ),
            }))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Placeholder {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for Placeholder {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.name {
            "spark_partition_id" => DataType::Int32,
            "monotonically_increasing_id" => DataType::Int64,
            "randstr" | "uuid" => DataType::Utf8,
            "uniform" => match arg_types {
                [min, max, ..] if min.is_integer() && max.is_integer() => {
                    if *min == DataType::Int64 || *max == DataType::Int64 {
                        DataType::Int64
                    } else {
                        DataType::Int32
                    }
                }
                _ => DataType::Float64,
            },
            _ => DataType::Float64,
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        plan_err!(
            "{}() is computed by a PartitionValues node the analyzer adds; this call was not replaced, a Flint bug",
            self.name
        )
    }
}

/// A constant argument of `call` (seeds and lengths must be constants in Spark).
fn literal(call: &str, arg: &Expr) -> Result<ScalarValue> {
    let inner = match arg {
        Expr::Cast(cast) => cast.expr.as_ref(),
        Expr::TryCast(cast) => cast.expr.as_ref(),
        other => other,
    };
    match inner {
        Expr::Literal(value, _) => Ok(value.clone()),
        Expr::Negative(negated) => match negated.as_ref() {
            Expr::Literal(value, _) => value.arithmetic_negate(),
            other => non_foldable(call, other),
        },
        other => non_foldable(call, other),
    }
}

fn non_foldable<T>(call: &str, arg: &Expr) -> Result<T> {
    plan_err!(
        "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] {call} needs a constant argument, got {arg}. SQLSTATE: 42K09"
    )
}

fn literal_i64(call: &str, arg: &Expr) -> Result<i64> {
    let value = literal(call, arg)?;
    if value.is_null() {
        return Ok(0);
    }
    match value.cast_to(&DataType::Int64)? {
        ScalarValue::Int64(Some(v)) => Ok(v),
        other => plan_err!("{call} needs an integer, got {other}"),
    }
}

fn literal_f64(call: &str, arg: &Expr) -> Result<f64> {
    match literal(call, arg)?.cast_to(&DataType::Float64)? {
        ScalarValue::Float64(Some(v)) => Ok(v),
        other => plan_err!("{call} needs a number, got {other}"),
    }
}

/// A seed Spark would pick for a call without one (`Utils.random.nextLong`).
fn random_seed() -> i64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as i64
}

/// What the placeholder call `expr` computes, if it is one.
fn partition_value(expr: &Expr) -> Result<Option<PartitionValue>> {
    let Expr::ScalarFunction(call) = expr else {
        return Ok(None);
    };
    if call
        .func
        .inner()
        .as_ref()
        .downcast_ref::<Placeholder>()
        .is_none()
    {
        return Ok(None);
    }
    let name = call.func.name();
    let args = &call.args;
    let seed_at = |i: usize| -> Result<i64> {
        match args.get(i) {
            Some(arg) => literal_i64(name, arg),
            None => Ok(random_seed()),
        }
    };
    Ok(Some(match name {
        "spark_partition_id" => PartitionValue::PartitionId,
        "monotonically_increasing_id" => PartitionValue::MonotonicallyIncreasingId,
        "rand" | "random" => PartitionValue::Rand(seed_at(0)?),
        "randn" => PartitionValue::Randn(seed_at(0)?),
        "uuid" => PartitionValue::Uuid(seed_at(0)?),
        "randstr" => {
            let length = match args.first() {
                Some(arg) => literal_i64(name, arg)?,
                None => return plan_err!("randstr needs a length"),
            };
            PartitionValue::RandStr {
                length: i32::try_from(length.max(0)).unwrap_or(i32::MAX),
                seed: seed_at(1)?,
            }
        }
        "uniform" => {
            let [min, max, ..] = args.as_slice() else {
                return plan_err!("uniform needs a minimum and a maximum");
            };
            let seed = seed_at(2)?;
            let integers = |e: &Expr| literal(name, e).is_ok_and(|v| v.data_type().is_integer());
            if integers(min) && integers(max) {
                PartitionValue::UniformInteger {
                    min: literal_i64(name, min)?,
                    max: literal_i64(name, max)?,
                    seed,
                }
            } else {
                PartitionValue::UniformDouble {
                    min: literal_f64(name, min)?.to_bits(),
                    max: literal_f64(name, max)?.to_bits(),
                    seed,
                }
            }
        }
        _ => return Ok(None),
    }))
}

/// The logical node: `input`'s columns, then one column per value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionValues {
    input: LogicalPlan,
    values: Vec<(String, PartitionValue)>,
    schema: DFSchemaRef,
}

impl PartitionValues {
    fn try_new(input: LogicalPlan, values: Vec<(String, PartitionValue)>) -> Result<Self> {
        let mut fields: Vec<(Option<datafusion::common::TableReference>, Arc<Field>)> = input
            .schema()
            .iter()
            .map(|(q, f)| (q.cloned(), Arc::clone(f)))
            .collect();
        for (name, value) in &values {
            fields.push((None, Arc::new(Field::new(name, value.data_type(), false))));
        }
        let schema = DFSchema::new_with_metadata(fields, input.schema().metadata().clone())?;
        Ok(PartitionValues {
            input,
            values,
            schema: Arc::new(schema),
        })
    }
}

impl PartialOrd for PartitionValues {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.values
            .partial_cmp(&other.values)
            .filter(|ordering| *ordering != Ordering::Equal || self == other)
    }
}

impl UserDefinedLogicalNodeCore for PartitionValues {
    fn name(&self) -> &str {
        "PartitionValues"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PartitionValues: {:?}", self.values)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("PartitionValues needs one input".into()))?;
        PartitionValues::try_new(input, self.values.clone())
    }
}

/// Replaces the placeholder calls of every node by columns of a [`PartitionValues`] node
/// under it (the node keeps its output: a projection drops the added columns).
#[derive(Debug, Default)]
pub struct SparkPartitionValues;

impl AnalyzerRule for SparkPartitionValues {
    fn name(&self) -> &str {
        "spark_partition_values"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut next = 0usize;
        plan.transform_up_with_subqueries(|node| rewrite_node(node, &mut next))
            .map(|t| t.data)
    }
}

fn rewrite_node(node: LogicalPlan, next: &mut usize) -> Result<Transformed<LogicalPlan>> {
    if matches!(node, LogicalPlan::Extension(_)) || node.inputs().len() != 1 {
        return Ok(Transformed::no(node));
    }
    let mut found = false;
    for expr in node.expressions() {
        expr.apply(|e| {
            found |= matches!(partition_value(e), Ok(Some(_)));
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
    }
    if !found {
        return Ok(Transformed::no(node));
    }
    let original = Arc::clone(node.schema());
    let keeps_names = matches!(node, LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_));
    let mut values = Vec::new();
    let mut exprs = Vec::new();
    for expr in node.expressions() {
        let name = expr.schema_name().to_string();
        let rewritten = expr
            .transform_up(|e| match partition_value(&e)? {
                Some(value) => {
                    let column = format!("__flint_partition_value_{}", *next);
                    *next += 1;
                    let placeholder_type = match &e {
                        Expr::ScalarFunction(call) if call.func.name() == "uniform" => {
                            let types = call
                                .args
                                .iter()
                                .map(|a| {
                                    literal(call.func.name(), a)
                                        .map(|v| v.data_type())
                                        .unwrap_or(DataType::Float64)
                                })
                                .collect::<Vec<_>>();
                            Some(call.func.return_type(&types)?)
                        }
                        _ => None,
                    };
                    values.push((column.clone(), value));
                    let mut replaced = Expr::Column(Column::from_name(column));
                    if let Some(data_type) = placeholder_type.filter(|t| *t != value.data_type()) {
                        replaced = datafusion::logical_expr::cast(replaced, data_type);
                    }
                    Ok(Transformed::yes(replaced))
                }
                None => Ok(Transformed::no(e)),
            })?
            .data;
        let changed = rewritten.schema_name().to_string() != name;
        exprs.push(
            if keeps_names && changed && !matches!(rewritten, Expr::Alias(_)) {
                rewritten.alias(name)
            } else {
                rewritten
            },
        );
    }
    let input = node.inputs()[0].clone();
    let input = LogicalPlan::Extension(Extension {
        node: Arc::new(PartitionValues::try_new(input, values)?),
    });
    let rewritten = node.with_new_exprs(exprs, vec![input])?;
    if rewritten.schema().fields().len() == original.fields().len() {
        return Ok(Transformed::yes(rewritten));
    }
    // A node that passes its input's columns through (a filter, a sort) would now also
    // pass the added ones: keep the node's own columns.
    let columns = original
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    Ok(Transformed::yes(LogicalPlan::Projection(
        Projection::try_new(columns, Arc::new(rewritten))?,
    )))
}

/// Plans [`PartitionValues`] as [`PartitionValuesExec`].
#[derive(Debug, Default)]
pub struct PartitionValuesPlanner;

#[async_trait]
impl ExtensionPlanner for PartitionValuesPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &dyn Session,
        _planning_context: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(values) = node.as_any().downcast_ref::<PartitionValues>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal(
                "PartitionValues needs one input".into(),
            ));
        };
        Ok(Some(Arc::new(PartitionValuesExec::try_new(
            Arc::clone(input),
            values.values.clone(),
        )?)))
    }
}

/// The physical node: each batch of the partition with the values appended.
#[derive(Debug)]
pub struct PartitionValuesExec {
    input: Arc<dyn ExecutionPlan>,
    values: Vec<(String, PartitionValue)>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl PartitionValuesExec {
    /// `input`'s columns, then one column per value, named as given.
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        values: Vec<(String, PartitionValue)>,
    ) -> Result<Self> {
        let mut fields: Vec<Arc<Field>> = input.schema().fields().iter().cloned().collect();
        for (name, value) in &values {
            fields.push(Arc::new(Field::new(name, value.data_type(), false)));
        }
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            input.schema().metadata().clone(),
        ));
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(PartitionValuesExec {
            input,
            values,
            schema,
            properties,
        })
    }

    /// The values, with their column names.
    pub fn values(&self) -> &[(String, PartitionValue)] {
        &self.values
    }
}

impl DisplayAs for PartitionValuesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let values: Vec<String> = self.values.iter().map(|(_, v)| format!("{v:?}")).collect();
        write!(f, "PartitionValuesExec: {}", values.join(", "))
    }
}

impl ExecutionPlan for PartitionValuesExec {
    fn name(&self) -> &str {
        "PartitionValuesExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| {
            DataFusionError::Internal("PartitionValuesExec needs one input".into())
        })?;
        Ok(Arc::new(PartitionValuesExec::try_new(
            input,
            self.values.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = Arc::clone(&self.schema);
        let index = i32::try_from(partition)
            .map_err(|_| DataFusionError::Internal(format!("partition {partition}")))?;
        let mut state = Generators::new(index, &self.values);
        let output_schema = Arc::clone(&schema);
        let output = input.map(move |batch| {
            let batch = batch?;
            let mut columns = batch.columns().to_vec();
            columns.extend(state.next_columns(batch.num_rows()));
            Ok(RecordBatch::try_new(Arc::clone(&output_schema), columns)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, output)))
    }
}

/// Spark's `RandomUUIDGenerator.getNextUUID`: two longs of the twister (each its high word
/// first, as commons-math's `nextLong`) with the version 4 and IETF variant bits set.
fn next_uuid(twister: &mut rand_mt::Mt) -> String {
    let mut next_long = || (u64::from(twister.next_u32()) << 32) | u64::from(twister.next_u32());
    let most = (next_long() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let least = (next_long() | 0x8000_0000_0000_0000) & 0xBFFF_FFFF_FFFF_FFFF;
    let hex = format!("{most:016x}{least:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The state of one partition's values: the rows seen so far and each random generator.
struct Generators {
    partition: i32,
    rows: i64,
    values: Vec<(PartitionValue, XorShiftRandom)>,
    /// The Mersenne Twisters of the `uuid` values, in their order among `values`.
    twisters: Vec<rand_mt::Mt>,
    /// The WELL generators of the Poisson counts, in their order among `values`.
    wells: Vec<Well19937c>,
}

impl Generators {
    fn new(partition: i32, values: &[(String, PartitionValue)]) -> Self {
        let seeded = |value: &PartitionValue| value.seed().wrapping_add(i64::from(partition));
        Generators {
            partition,
            rows: 0,
            // commons-math seeds its twister from a long as the two words high, low.
            twisters: values
                .iter()
                .filter(|(_, value)| matches!(value, PartitionValue::Uuid(_)))
                .map(|(_, value)| {
                    let seed = seeded(value) as u64;
                    rand_mt::Mt::new_with_key([(seed >> 32) as u32, seed as u32])
                })
                .collect(),
            wells: values
                .iter()
                .filter(|(_, value)| matches!(value, PartitionValue::Poisson { .. }))
                .map(|(_, value)| Well19937c::new(partition_seed(value.seed(), partition)))
                .collect(),
            values: values
                .iter()
                .map(|(_, value)| {
                    let seed = value.seed().wrapping_add(i64::from(partition));
                    (*value, XorShiftRandom::new(seed))
                })
                .collect(),
        }
    }

    fn next_columns(&mut self, rows: usize) -> Vec<ArrayRef> {
        let first = self.rows;
        self.rows += rows as i64;
        let partition = self.partition;
        let mut twisters = self.twisters.iter_mut();
        let mut wells = self.wells.iter_mut();
        self.values
            .iter_mut()
            .map(|(value, random)| -> ArrayRef {
                match *value {
                    PartitionValue::PartitionId => {
                        Arc::new(Int32Array::from(vec![partition; rows]))
                    }
                    PartitionValue::MonotonicallyIncreasingId => {
                        let base = i64::from(partition) << 33;
                        Arc::new(Int64Array::from_iter_values(
                            (0..rows as i64).map(|i| base + first + i),
                        ))
                    }
                    PartitionValue::Rand(_) => Arc::new(Float64Array::from_iter_values(
                        (0..rows).map(|_| random.next_double()),
                    )),
                    PartitionValue::Randn(_) => Arc::new(Float64Array::from_iter_values(
                        (0..rows).map(|_| random.next_gaussian()),
                    )),
                    PartitionValue::UniformInteger { min, max, .. } => {
                        Arc::new(Int64Array::from_iter_values((0..rows).map(|_| {
                            (min as f64 + random.next_double() * (max - min) as f64) as i64
                        })))
                    }
                    PartitionValue::UniformDouble { min, max, .. } => {
                        let (min, max) = (f64::from_bits(min), f64::from_bits(max));
                        Arc::new(Float64Array::from_iter_values(
                            (0..rows).map(|_| min + random.next_double() * (max - min)),
                        ))
                    }
                    PartitionValue::Uuid(_) => {
                        let Some(twister) = twisters.next() else {
                            return Arc::new(StringArray::new_null(rows));
                        };
                        Arc::new(StringArray::from_iter_values(
                            (0..rows).map(|_| next_uuid(twister)),
                        ))
                    }
                    PartitionValue::Poisson { mean, .. } => {
                        let Some(well) = wells.next() else {
                            return Arc::new(Int32Array::new_null(rows));
                        };
                        let mean = f64::from_bits(mean);
                        Arc::new(Int32Array::from_iter_values(
                            (0..rows).map(|_| well.next_poisson(mean)),
                        ))
                    }
                    PartitionValue::RandStr { length, .. } => {
                        Arc::new(StringArray::from_iter_values((0..rows).map(|_| {
                            (0..length)
                                .map(|_| {
                                    let v = (random.next_int() % 62).unsigned_abs() as u8;
                                    char::from(match v {
                                        0..=9 => b'0' + v,
                                        10..=35 => b'a' + (v - 10),
                                        _ => b'A' + (v - 36),
                                    })
                                })
                                .collect::<String>()
                        })))
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spark's answer to `spark.range(0, 10, 1, 1).sample(True, 0.5, 3).count()` (PySpark's
    /// doctest): 2, here rows 5 and 6 once each.
    #[test]
    fn samples_with_replacement_draw_spark_s_counts() {
        let value = PartitionValue::Poisson {
            mean: 0.5f64.to_bits(),
            seed: 3,
        };
        let mut state = Generators::new(0, &[("n".into(), value)]);
        let column = state.next_columns(10).remove(0);
        let counts = column.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(counts.values().to_vec(), vec![0, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
        // `new java.util.Random(3).nextLong()`, Java's first long of seed 3.
        assert_eq!(partition_seed(3, 0), -4_961_115_986_754_665_064);
    }

    /// Spark 4's answer to `spark.range(0, 5, 1, 1).select(uuid(123))` (PySpark's example).
    #[test]
    fn seeded_uuids_are_spark_s() {
        let mut state = Generators::new(0, &[("u".into(), PartitionValue::Uuid(123))]);
        let column = state.next_columns(2).remove(0);
        let column = column
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("strings");
        assert_eq!(column.value(0), "4c99192d-23d6-4d88-b814-a634398120f0");
        assert_eq!(column.value(1), "af506873-3c53-41e3-8354-a24856b8de8a");
    }

    /// Spark 4's answers: `rand(42)`, `randn(42)`, `randstr(16, 3)` on one partition.
    #[test]
    fn the_generator_is_spark_s() {
        let mut random = XorShiftRandom::new(42);
        assert_eq!(random.next_double(), 0.619189370225301);
        assert_eq!(random.next_double(), 0.5096018842446481);
        let mut random = XorShiftRandom::new(42);
        assert!((random.next_gaussian() - 2.384479054241165).abs() < 1e-15);
        assert!((random.next_gaussian() - 0.1920934041293524).abs() < 1e-15);
        let mut state = Generators::new(
            0,
            &[(
                "s".into(),
                PartitionValue::RandStr {
                    length: 16,
                    seed: 3,
                },
            )],
        );
        let column = state.next_columns(2).remove(0);
        let strings = column.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(strings.value(0), "nurJIpH4cmmMnsCG");
        assert_eq!(strings.value(1), "fl9YtT5m01trZtIt");
    }
}
