//! Spark's sketch functions: Theta and Tuple sketches (distinct counts with set operations,
//! and per-key summaries), HyperLogLog (`hll_*`), KLL quantile sketches (`kll_*`), and the
//! aggregates that build and merge them. Each sketch has bounded size (set by its `lg`/`k`
//! parameter) and answers exactly while the data fit in it, as Apache DataSketches'
//! sketches (which Spark uses) do.
//!
//! Sketches are `binary` values in Flint's own layout (the first byte names the kind);
//! they are not byte-compatible with DataSketches' serialized sketches.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ScalarUDF, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::row::returns::{bigint, binary, double, string};
use super::row::{Eval, Returns, RowContext, RowFunction, bytes, integer, text};

const THETA: u8 = b'T';
const TUPLE: u8 = b'U';
const HLL: u8 = b'H';
const KLL: u8 = b'K';
const VERSION: u8 = 1;
const SEED: u64 = 9001;

fn invalid_sketch(function: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[SKETCH_INVALID_INPUT] The input to `{function}` is not a valid sketch."
    ))
}

/// The 64-bit hash a sketch keys a value by (`int` and `bigint` 1 hash alike).
fn hash_value(value: &ScalarValue) -> Option<u64> {
    let hash = |data: &[u8]| twox_hash::XxHash64::oneshot(SEED, data);
    if value.is_null() {
        return None;
    }
    if let Some(v) = integer(value) {
        return Some(hash(&v.to_le_bytes()));
    }
    Some(match value {
        ScalarValue::Float64(Some(v)) => hash(&canonical(*v).to_le_bytes()),
        ScalarValue::Float32(Some(v)) => hash(&canonical(f64::from(*v)).to_le_bytes()),
        other => match bytes(other) {
            Some(b) => hash(b),
            None => hash(other.to_string().as_bytes()),
        },
    })
}

fn canonical(v: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else if v.is_nan() {
        f64::NAN
    } else {
        v
    }
}

// ---------------------------------------------------------------- Theta and Tuple

/// How a Tuple sketch combines the summaries of one key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Sum,
    Min,
    Max,
    AlwaysOne,
}

impl Mode {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "sum" => Mode::Sum,
            "min" => Mode::Min,
            "max" => Mode::Max,
            "alwaysone" => Mode::AlwaysOne,
            other => {
                return exec_err!(
                    "[TUPLE_INVALID_SKETCH_MODE] Invalid tuple sketch mode '{other}': expects one \
                     of sum, min, max, alwaysone."
                );
            }
        })
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Mode {
        match code {
            1 => Mode::Min,
            2 => Mode::Max,
            3 => Mode::AlwaysOne,
            _ => Mode::Sum,
        }
    }

    fn combine(self, a: f64, b: f64) -> f64 {
        match self {
            Mode::Sum => a + b,
            Mode::Min => a.min(b),
            Mode::Max => a.max(b),
            Mode::AlwaysOne => 1.0,
        }
    }
}

/// A KMV sketch: the `2^lg_k` smallest key hashes below `theta`, each with a summary
/// (Tuple sketches; 1 for Theta sketches). Exact until it holds more keys than that.
#[derive(Debug, Clone)]
struct Kmv {
    lg_k: u8,
    theta: u64,
    entries: BTreeMap<u64, f64>,
    /// Tuple sketch summaries: `Some(is_integer)`; Theta sketches: `None`.
    summary: Option<bool>,
    mode: Mode,
}

impl Kmv {
    fn new(lg_k: u8, summary: Option<bool>, mode: Mode) -> Self {
        Self {
            lg_k,
            theta: u64::MAX,
            entries: BTreeMap::new(),
            summary,
            mode,
        }
    }

    fn insert(&mut self, hash: u64, summary: f64) {
        if hash >= self.theta {
            return;
        }
        let mode = self.mode;
        self.entries
            .entry(hash)
            .and_modify(|s| *s = mode.combine(*s, summary))
            .or_insert(if mode == Mode::AlwaysOne {
                1.0
            } else {
                summary
            });
        self.trim();
    }

    /// Keeps the `2^lg_k` smallest hashes; the next one becomes theta.
    fn trim(&mut self) {
        let k = 1usize << self.lg_k;
        while self.entries.len() > k {
            if let Some((largest, _)) = self.entries.pop_last() {
                self.theta = largest;
            }
        }
        let theta = self.theta;
        self.entries.retain(|h, _| *h < theta);
    }

    fn theta_fraction(&self) -> f64 {
        if self.theta == u64::MAX {
            1.0
        } else {
            self.theta as f64 / 2f64.powi(64)
        }
    }

    fn estimate(&self) -> f64 {
        self.entries.len() as f64 / self.theta_fraction()
    }

    fn union(&self, other: &Kmv, lg_k: u8) -> Kmv {
        let mut out = Kmv::new(lg_k, self.summary, self.mode);
        out.theta = self.theta.min(other.theta);
        for (h, s) in self.entries.iter().chain(&other.entries) {
            if *h < out.theta {
                let mode = out.mode;
                out.entries
                    .entry(*h)
                    .and_modify(|e| *e = mode.combine(*e, *s))
                    .or_insert(*s);
            }
        }
        out.trim();
        out
    }

    fn intersection(&self, other: &Kmv) -> Kmv {
        let mut out = Kmv::new(self.lg_k.min(other.lg_k), self.summary, self.mode);
        out.theta = self.theta.min(other.theta);
        for (h, s) in &self.entries {
            if *h < out.theta
                && let Some(o) = other.entries.get(h)
            {
                let summary = if other.summary.is_some() {
                    out.mode.combine(*s, *o)
                } else {
                    *s
                };
                out.entries.insert(*h, summary);
            }
        }
        out
    }

    fn difference(&self, other: &Kmv) -> Kmv {
        let mut out = Kmv::new(self.lg_k, self.summary, self.mode);
        out.theta = self.theta.min(other.theta);
        for (h, s) in &self.entries {
            if *h < out.theta && !other.entries.contains_key(h) {
                out.entries.insert(*h, *s);
            }
        }
        out
    }

    fn to_bytes(&self) -> Vec<u8> {
        let kind = if self.summary.is_some() { TUPLE } else { THETA };
        let mut out = vec![kind, VERSION, self.lg_k];
        out.push(match self.summary {
            Some(true) => 1,
            _ => 0,
        });
        out.push(self.mode.code());
        out.extend(self.theta.to_le_bytes());
        out.extend((self.entries.len() as u32).to_le_bytes());
        for (h, s) in &self.entries {
            out.extend(h.to_le_bytes());
            if self.summary.is_some() {
                out.extend(s.to_le_bytes());
            }
        }
        out
    }

    fn from_bytes(data: &[u8], function: &str) -> Result<Kmv> {
        let invalid = || invalid_sketch(function);
        let [kind, VERSION, lg_k, integer_summary, mode, ..] = *data else {
            return Err(invalid());
        };
        let summary = match kind {
            THETA => None,
            TUPLE => Some(integer_summary == 1),
            _ => return Err(invalid()),
        };
        let u64_at = |at: usize| -> Result<u64> {
            Ok(u64::from_le_bytes(
                data.get(at..at + 8)
                    .ok_or_else(invalid)?
                    .try_into()
                    .map_err(|_| invalid())?,
            ))
        };
        let theta = u64_at(5)?;
        let count = u32::from_le_bytes(
            data.get(13..17)
                .ok_or_else(invalid)?
                .try_into()
                .map_err(|_| invalid())?,
        ) as usize;
        let width = if summary.is_some() { 16 } else { 8 };
        let mut entries = BTreeMap::new();
        for i in 0..count {
            let at = 17 + i * width;
            let hash = u64_at(at)?;
            let value = if summary.is_some() {
                f64::from_bits(u64_at(at + 8)?)
            } else {
                1.0
            };
            entries.insert(hash, value);
        }
        Ok(Kmv {
            lg_k,
            theta,
            entries,
            summary,
            mode: Mode::from_code(mode),
        })
    }
}

fn lg_k(value: Option<&ScalarValue>, default: u8, function: &str) -> Result<u8> {
    match value.and_then(integer) {
        None => Ok(default),
        Some(lg) if (4..=26).contains(&lg) => Ok(lg as u8),
        Some(lg) => exec_err!(
            "[SKETCH_INVALID_LG_NOM_ENTRIES] Invalid value for `lgNomEntries` in `{function}`: \
             must be between 4 and 26, inclusive, but got {lg}."
        ),
    }
}

fn kmv_arg(value: &ScalarValue, function: &str) -> Result<Kmv> {
    Kmv::from_bytes(
        bytes(value).ok_or_else(|| invalid_sketch(function))?,
        function,
    )
}

// ---------------------------------------------------------------- HyperLogLog

/// A HyperLogLog sketch: `2^lg_k` registers of leading-zero ranks.
#[derive(Debug, Clone)]
struct Hll {
    lg_k: u8,
    registers: Vec<u8>,
}

impl Hll {
    fn new(lg_k: u8) -> Self {
        Self {
            lg_k,
            registers: vec![0; 1 << lg_k],
        }
    }

    fn insert(&mut self, hash: u64) {
        let index = (hash >> (64 - u32::from(self.lg_k))) as usize;
        let rest = hash << self.lg_k;
        let rank = (rest.leading_zeros() + 1).min(64 - u32::from(self.lg_k) + 1) as u8;
        if rank > self.registers[index] {
            self.registers[index] = rank;
        }
    }

    /// The cardinality estimate, by linear counting while registers are empty.
    fn estimate(&self) -> f64 {
        let m = self.registers.len() as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|r| 2f64.powi(-i32::from(*r)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|r| **r == 0).count() as f64;
        if raw <= 2.5 * m && zeros > 0.0 {
            m * (m / zeros).ln()
        } else {
            raw
        }
    }

    /// The same sketch with fewer registers.
    fn downsample(&self, lg_k: u8) -> Hll {
        if lg_k >= self.lg_k {
            return self.clone();
        }
        let mut out = Hll::new(lg_k);
        let shift = self.lg_k - lg_k;
        for (i, rank) in self.registers.iter().enumerate() {
            if *rank == 0 {
                continue;
            }
            // The dropped index bits become leading bits of the rest of the hash.
            let low = i & ((1 << shift) - 1);
            let extra = if low == 0 {
                u32::from(shift) + u32::from(*rank)
            } else {
                u32::from(shift) - (usize::BITS - low.leading_zeros()) + 1
            };
            let target = i >> shift;
            out.registers[target] = out.registers[target].max(extra as u8);
        }
        out
    }

    fn union(&self, other: &Hll, allow_different: bool) -> Result<Hll> {
        if self.lg_k != other.lg_k && !allow_different {
            return exec_err!(
                "[HLL_UNION_DIFFERENT_LG_K] Sketches have different `lgConfigK` values: {} and \
                 {}. Set the `allowDifferentLgConfigK` parameter to true to call `hll_union` \
                 with different `lgConfigK` values.",
                self.lg_k,
                other.lg_k
            );
        }
        let lg_k = self.lg_k.min(other.lg_k);
        let (a, b) = (self.downsample(lg_k), other.downsample(lg_k));
        Ok(Hll {
            lg_k,
            registers: a
                .registers
                .iter()
                .zip(&b.registers)
                .map(|(x, y)| *x.max(y))
                .collect(),
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![HLL, VERSION, self.lg_k];
        out.extend(&self.registers);
        out
    }

    fn from_bytes(data: &[u8], function: &str) -> Result<Hll> {
        match data {
            [HLL, VERSION, lg_k, registers @ ..]
                if (4..=21).contains(lg_k) && registers.len() == 1 << lg_k =>
            {
                Ok(Hll {
                    lg_k: *lg_k,
                    registers: registers.to_vec(),
                })
            }
            _ => Err(invalid_sketch(function)),
        }
    }
}

fn hll_arg(value: &ScalarValue, function: &str) -> Result<Hll> {
    Hll::from_bytes(
        bytes(value).ok_or_else(|| invalid_sketch(function))?,
        function,
    )
}

// ---------------------------------------------------------------- KLL

/// The item type of a KLL sketch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    Bigint,
    Double,
    Float,
}

impl Item {
    fn data_type(self) -> DataType {
        match self {
            Item::Bigint => DataType::Int64,
            Item::Double => DataType::Float64,
            Item::Float => DataType::Float32,
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    /// An item's sortable bits: bigints as they are, floating point by their total order.
    fn key(self, value: &ScalarValue) -> Option<i64> {
        match (self, value) {
            (Item::Bigint, v) => integer(v),
            (Item::Double, ScalarValue::Float64(Some(v))) => Some(float_key(*v)),
            (Item::Float, ScalarValue::Float32(Some(v))) => Some(float_key(f64::from(*v))),
            (_, v) => match v.cast_to(&DataType::Float64).ok()? {
                ScalarValue::Float64(Some(v)) => Some(float_key(v)),
                _ => None,
            },
        }
    }

    fn value(self, key: i64) -> ScalarValue {
        match self {
            Item::Bigint => ScalarValue::Int64(Some(key)),
            Item::Double => ScalarValue::Float64(Some(float_of(key))),
            Item::Float => ScalarValue::Float32(Some(float_of(key) as f32)),
        }
    }
}

/// A double as an integer with the same order.
fn float_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    if bits < 0 { bits ^ i64::MAX } else { bits }
}

fn float_of(key: i64) -> f64 {
    let bits = if key < 0 { key ^ i64::MAX } else { key };
    f64::from_bits(bits as u64)
}

/// A KLL sketch: levels of sorted compactors, an item at level `h` standing for `2^h`
/// items. Exact until more than `k` items arrive.
#[derive(Debug, Clone)]
struct Kll {
    item: Item,
    k: u16,
    n: u64,
    /// Items as order-preserving keys, level 0 first.
    levels: Vec<Vec<i64>>,
    /// Alternates which half a compaction keeps, level by level.
    flips: u64,
}

impl Kll {
    fn new(item: Item, k: u16) -> Self {
        Self {
            item,
            k,
            n: 0,
            levels: vec![Vec::new()],
            flips: 0,
        }
    }

    fn capacity(&self, level: usize) -> usize {
        let depth = self.levels.len() - 1 - level;
        ((f64::from(self.k) * (2.0f64 / 3.0).powi(depth as i32)).ceil() as usize).max(8)
    }

    fn insert(&mut self, key: i64) {
        self.levels[0].push(key);
        self.n += 1;
        self.compress();
    }

    fn compress(&mut self) {
        loop {
            let total: usize = self.levels.iter().map(Vec::len).sum();
            let capacity: usize = (0..self.levels.len()).map(|h| self.capacity(h)).sum();
            if total <= capacity {
                return;
            }
            let Some(level) =
                (0..self.levels.len()).find(|h| self.levels[*h].len() >= self.capacity(*h))
            else {
                return;
            };
            if level + 1 == self.levels.len() {
                self.levels.push(Vec::new());
            }
            let mut items = std::mem::take(&mut self.levels[level]);
            items.sort_unstable();
            // An odd item out stays at its level.
            if items.len() % 2 == 1
                && let Some(last) = items.pop()
            {
                self.levels[level].push(last);
            }
            let offset = (self.flips & 1) as usize;
            self.flips += 1;
            let promoted: Vec<i64> = items.iter().skip(offset).step_by(2).copied().collect();
            self.levels[level + 1].extend(promoted);
        }
    }

    fn merge(&mut self, other: &Kll) {
        self.k = self.k.min(other.k);
        while self.levels.len() < other.levels.len() {
            self.levels.push(Vec::new());
        }
        for (h, items) in other.levels.iter().enumerate() {
            self.levels[h].extend(items);
        }
        self.n += other.n;
        self.compress();
    }

    /// Items in order with their weights.
    fn weighted(&self) -> Vec<(i64, u64)> {
        let mut all: Vec<(i64, u64)> = self
            .levels
            .iter()
            .enumerate()
            .flat_map(|(h, items)| items.iter().map(move |i| (*i, 1u64 << h)))
            .collect();
        all.sort_unstable();
        all
    }

    /// The smallest item whose inclusive rank reaches `rank` (0..=1).
    fn quantile(&self, rank: f64) -> Option<i64> {
        let all = self.weighted();
        let total: u64 = all.iter().map(|(_, w)| w).sum();
        let target = rank * total as f64;
        let mut seen = 0u64;
        for (item, weight) in &all {
            seen += weight;
            if seen as f64 >= target {
                return Some(*item);
            }
        }
        all.last().map(|(i, _)| *i)
    }

    /// The fraction of items at or below `key`.
    fn rank(&self, key: i64) -> f64 {
        let all = self.weighted();
        let total: u64 = all.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return f64::NAN;
        }
        let below: u64 = all.iter().filter(|(i, _)| *i <= key).map(|(_, w)| w).sum();
        below as f64 / total as f64
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![KLL, VERSION, self.item.code()];
        out.extend(self.k.to_le_bytes());
        out.extend(self.n.to_le_bytes());
        out.extend(self.flips.to_le_bytes());
        out.push(self.levels.len() as u8);
        for items in &self.levels {
            out.extend((items.len() as u32).to_le_bytes());
            for item in items {
                out.extend(item.to_le_bytes());
            }
        }
        out
    }

    fn from_bytes(data: &[u8], item: Item, function: &str) -> Result<Kll> {
        let invalid = || invalid_sketch(function);
        let read = |at: usize, len: usize| data.get(at..at + len).ok_or_else(invalid);
        if read(0, 3)? != [KLL, VERSION, item.code()] {
            return Err(invalid());
        }
        let k = u16::from_le_bytes(read(3, 2)?.try_into().map_err(|_| invalid())?);
        let n = u64::from_le_bytes(read(5, 8)?.try_into().map_err(|_| invalid())?);
        let flips = u64::from_le_bytes(read(13, 8)?.try_into().map_err(|_| invalid())?);
        let count = usize::from(read(21, 1)?[0]);
        let mut at = 22;
        let mut levels = Vec::with_capacity(count);
        for _ in 0..count {
            let len = u32::from_le_bytes(read(at, 4)?.try_into().map_err(|_| invalid())?) as usize;
            at += 4;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(i64::from_le_bytes(
                    read(at, 8)?.try_into().map_err(|_| invalid())?,
                ));
                at += 8;
            }
            levels.push(items);
        }
        if levels.is_empty() {
            levels.push(Vec::new());
        }
        Ok(Kll {
            item,
            k,
            n,
            levels,
            flips,
        })
    }

    fn describe(&self) -> String {
        let retained: usize = self.levels.iter().map(Vec::len).sum();
        let (min, max) = {
            let all = self.weighted();
            (all.first().map(|(i, _)| *i), all.last().map(|(i, _)| *i))
        };
        let show =
            |v: Option<i64>| v.map_or("NULL".to_string(), |k| self.item.value(k).to_string());
        format!(
            "### KLL sketch summary:\n   K : {}\n   N : {}\n   Levels : {}\n   Retained items : \
             {retained}\n   Estimation mode : {}\n   Min item : {}\n   Max item : {}\n### End \
             sketch summary\n",
            self.k,
            self.n,
            self.levels.len(),
            retained < self.n as usize,
            show(min),
            show(max),
        )
    }
}

fn kll_arg(value: &ScalarValue, item: Item, function: &str) -> Result<Kll> {
    Kll::from_bytes(
        bytes(value).ok_or_else(|| invalid_sketch(function))?,
        item,
        function,
    )
}

// ---------------------------------------------------------------- scalar functions

/// Sketch arguments are binary; the rest keep their types (integers as `int`).
fn sketch_args(types: &[DataType]) -> Result<Vec<DataType>> {
    Ok(types
        .iter()
        .map(|t| match t {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null => {
                DataType::Binary
            }
            t if t.is_integer() => DataType::Int32,
            t if crate::analyzer::is_text(t) => DataType::Utf8,
            t => t.clone(),
        })
        .collect())
}

/// `kll_sketch_get_quantile_*` and `_rank_*`: the second argument keeps its shape.
fn kll_query_args(types: &[DataType]) -> Result<Vec<DataType>> {
    let Some(second) = types.get(1) else {
        return plan_err!("[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] expects 2 parameters");
    };
    let second = match second {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
        }
        _ => DataType::Float64,
    };
    Ok(vec![DataType::Binary, second])
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

/// The floats of a scalar or array argument, and whether it was an array.
fn fractions(value: &ScalarValue) -> (Vec<Option<f64>>, bool) {
    match value {
        ScalarValue::List(list) => {
            let values = list.value(0);
            let floats = values.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            (floats.iter().collect(), true)
        }
        ScalarValue::Float64(v) => (vec![*v], false),
        _ => (vec![None], false),
    }
}

/// The names of the KLL functions of one item type: n, quantile, rank, to_string, merge.
fn kll_names(item: Item) -> [&'static str; 5] {
    match item {
        Item::Bigint => [
            "kll_sketch_get_n_bigint",
            "kll_sketch_get_quantile_bigint",
            "kll_sketch_get_rank_bigint",
            "kll_sketch_to_string_bigint",
            "kll_sketch_merge_bigint",
        ],
        Item::Double => [
            "kll_sketch_get_n_double",
            "kll_sketch_get_quantile_double",
            "kll_sketch_get_rank_double",
            "kll_sketch_to_string_double",
            "kll_sketch_merge_double",
        ],
        Item::Float => [
            "kll_sketch_get_n_float",
            "kll_sketch_get_quantile_float",
            "kll_sketch_get_rank_float",
            "kll_sketch_to_string_float",
            "kll_sketch_merge_float",
        ],
    }
}

fn kll_functions(item: Item) -> Vec<Arc<ScalarUDF>> {
    let [n, quantile, rank, to_string, merge] = kll_names(item);
    macro_rules! by_item {
        ($f:ident) => {
            match item {
                Item::Bigint => {
                    (|a: &[ScalarValue], c: &RowContext| $f(a, c, Item::Bigint)) as Eval
                }
                Item::Double => {
                    (|a: &[ScalarValue], c: &RowContext| $f(a, c, Item::Double)) as Eval
                }
                Item::Float => (|a: &[ScalarValue], c: &RowContext| $f(a, c, Item::Float)) as Eval,
            }
        };
    }
    let quantile_type: Returns = match item {
        Item::Bigint => |t| Ok(shaped(t, DataType::Int64)),
        Item::Double => |t| Ok(shaped(t, DataType::Float64)),
        Item::Float => |t| Ok(shaped(t, DataType::Float32)),
    };
    vec![
        RowFunction::new(n, sketch_args, bigint, by_item!(kll_n)).udf(),
        RowFunction::new(
            quantile,
            kll_query_args,
            quantile_type,
            by_item!(kll_quantile),
        )
        .udf(),
        RowFunction::new(
            rank,
            kll_query_args,
            |t| Ok(shaped(t, DataType::Float64)),
            by_item!(kll_rank),
        )
        .udf(),
        RowFunction::new(to_string, sketch_args, string, by_item!(kll_string)).udf(),
        RowFunction::new(merge, sketch_args, binary, by_item!(kll_merge)).udf(),
    ]
}

/// `t` as an array when the second argument is one.
fn shaped(types: &[DataType], t: DataType) -> DataType {
    match types.get(1) {
        Some(DataType::List(_)) => list_of(t),
        _ => t,
    }
}

fn kll_n(args: &[ScalarValue], _: &RowContext, item: Item) -> Result<ScalarValue> {
    let sketch = kll_arg(&args[0], item, "kll_sketch_get_n")?;
    Ok(ScalarValue::Int64(Some(sketch.n as i64)))
}

fn kll_quantile(args: &[ScalarValue], _: &RowContext, item: Item) -> Result<ScalarValue> {
    let sketch = kll_arg(&args[0], item, "kll_sketch_get_quantile")?;
    let (ranks, array) = fractions(&args[1]);
    let values = ranks
        .into_iter()
        .map(|rank| match rank {
            Some(r) if (0.0..=1.0).contains(&r) => Ok(sketch
                .quantile(r)
                .map(|k| item.value(k))
                .unwrap_or(ScalarValue::try_from(item.data_type())?)),
            Some(r) => exec_err!(
                "[KLL_SKETCH_INVALID_QUANTILE_RANGE] The quantile rank {r} must be between 0.0 \
                 and 1.0."
            ),
            None => ScalarValue::try_from(item.data_type()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(if array {
        ScalarValue::List(ScalarValue::new_list_nullable(&values, &item.data_type()))
    } else {
        values.into_iter().next().unwrap_or(ScalarValue::Null)
    })
}

fn kll_rank(args: &[ScalarValue], _: &RowContext, item: Item) -> Result<ScalarValue> {
    let sketch = kll_arg(&args[0], item, "kll_sketch_get_rank")?;
    let (values, array) = fractions(&args[1]);
    let ranks: Vec<ScalarValue> = values
        .into_iter()
        .map(|v| {
            ScalarValue::Float64(v.and_then(|v| {
                let key = match item {
                    Item::Bigint => v as i64,
                    _ => float_key(v),
                };
                (sketch.n > 0).then(|| sketch.rank(key))
            }))
        })
        .collect();
    Ok(if array {
        ScalarValue::List(ScalarValue::new_list_nullable(&ranks, &DataType::Float64))
    } else {
        ranks
            .into_iter()
            .next()
            .unwrap_or(ScalarValue::Float64(None))
    })
}

fn kll_string(args: &[ScalarValue], _: &RowContext, item: Item) -> Result<ScalarValue> {
    Ok(ScalarValue::Utf8(Some(
        kll_arg(&args[0], item, "kll_sketch_to_string")?.describe(),
    )))
}

fn kll_merge(args: &[ScalarValue], _: &RowContext, item: Item) -> Result<ScalarValue> {
    let mut sketch = kll_arg(&args[0], item, "kll_sketch_merge")?;
    sketch.merge(&kll_arg(&args[1], item, "kll_sketch_merge")?);
    Ok(ScalarValue::Binary(Some(sketch.to_bytes())))
}

/// Set operations on Theta/Tuple sketches.
#[derive(Clone, Copy)]
enum SetOp {
    Union,
    Intersection,
    Difference,
}

fn set_op(args: &[ScalarValue], op: SetOp, function: &str) -> Result<ScalarValue> {
    let a = kmv_arg(&args[0], function)?;
    let b = kmv_arg(&args[1], function)?;
    let mut result = match op {
        SetOp::Union => a.union(&b, lg_k(args.get(2), 12, function)?),
        SetOp::Intersection => a.intersection(&b),
        SetOp::Difference => a.difference(&b),
    };
    if let Some(mode) = args.iter().skip(2).find_map(text) {
        result.mode = Mode::parse(mode)?;
    }
    Ok(ScalarValue::Binary(Some(result.to_bytes())))
}

/// The Tuple sketch functions of one summary type.
fn tuple_functions(integer_summary: bool) -> Vec<Arc<ScalarUDF>> {
    let names: [&'static str; 9] = if integer_summary {
        [
            "tuple_sketch_estimate_integer",
            "tuple_sketch_theta_integer",
            "tuple_sketch_summary_integer",
            "tuple_union_integer",
            "tuple_union_theta_integer",
            "tuple_intersection_integer",
            "tuple_intersection_theta_integer",
            "tuple_difference_integer",
            "tuple_difference_theta_integer",
        ]
    } else {
        [
            "tuple_sketch_estimate_double",
            "tuple_sketch_theta_double",
            "tuple_sketch_summary_double",
            "tuple_union_double",
            "tuple_union_theta_double",
            "tuple_intersection_double",
            "tuple_intersection_theta_double",
            "tuple_difference_double",
            "tuple_difference_theta_double",
        ]
    };
    let summary_type: Returns = if integer_summary {
        |_| Ok(DataType::Int64)
    } else {
        |_| Ok(DataType::Float64)
    };
    let union: Eval = |a, _| set_op(a, SetOp::Union, "tuple_union");
    let intersection: Eval = |a, _| set_op(a, SetOp::Intersection, "tuple_intersection");
    let difference: Eval = |a, _| set_op(a, SetOp::Difference, "tuple_difference");
    vec![
        RowFunction::new(names[0], sketch_args, double, |a, _| {
            Ok(ScalarValue::Float64(Some(
                kmv_arg(&a[0], "tuple_sketch_estimate")?.estimate().round(),
            )))
        })
        .udf(),
        RowFunction::new(names[1], sketch_args, double, |a, _| {
            Ok(ScalarValue::Float64(Some(
                kmv_arg(&a[0], "tuple_sketch_theta")?.theta_fraction(),
            )))
        })
        .udf(),
        RowFunction::new(names[2], sketch_args, summary_type, tuple_summary).udf(),
        RowFunction::new(names[3], sketch_args, binary, union).udf(),
        RowFunction::new(names[4], sketch_args, binary, union).udf(),
        RowFunction::new(names[5], sketch_args, binary, intersection).udf(),
        RowFunction::new(names[6], sketch_args, binary, intersection).udf(),
        RowFunction::new(names[7], sketch_args, binary, difference).udf(),
        RowFunction::new(names[8], sketch_args, binary, difference).udf(),
    ]
}

fn tuple_summary(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    let sketch = kmv_arg(&args[0], "tuple_sketch_summary")?;
    let mode = match args.get(1).and_then(text) {
        Some(mode) => Mode::parse(mode)?,
        None => sketch.mode,
    };
    let total = sketch
        .entries
        .values()
        .copied()
        .reduce(|a, b| mode.combine(a, b));
    Ok(match (context.return_type, total) {
        (DataType::Int64, total) => ScalarValue::Int64(total.map(|t| t as i64)),
        (_, total) => ScalarValue::Float64(total),
    })
}

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut functions = vec![
        RowFunction::new("theta_sketch_estimate", sketch_args, bigint, |a, _| {
            Ok(ScalarValue::Int64(Some(
                kmv_arg(&a[0], "theta_sketch_estimate")?.estimate().round() as i64,
            )))
        })
        .udf(),
        RowFunction::new("theta_union", sketch_args, binary, |a, _| {
            set_op(a, SetOp::Union, "theta_union")
        })
        .udf(),
        RowFunction::new("theta_intersection", sketch_args, binary, |a, _| {
            set_op(a, SetOp::Intersection, "theta_intersection")
        })
        .udf(),
        RowFunction::new("theta_difference", sketch_args, binary, |a, _| {
            set_op(a, SetOp::Difference, "theta_difference")
        })
        .udf(),
        RowFunction::new("hll_sketch_estimate", sketch_args, bigint, |a, _| {
            Ok(ScalarValue::Int64(Some(
                hll_arg(&a[0], "hll_sketch_estimate")?.estimate().round() as i64,
            )))
        })
        .udf(),
        RowFunction::new("hll_union", sketch_args, binary, |a, _| {
            let allow = matches!(a.get(2), Some(ScalarValue::Boolean(Some(true))));
            let union = hll_arg(&a[0], "hll_union")?.union(&hll_arg(&a[1], "hll_union")?, allow)?;
            Ok(ScalarValue::Binary(Some(union.to_bytes())))
        })
        .udf(),
    ];
    functions.extend(tuple_functions(false));
    functions.extend(tuple_functions(true));
    for item in [Item::Bigint, Item::Double, Item::Float] {
        functions.extend(kll_functions(item));
    }
    functions
}

// ---------------------------------------------------------------- aggregates

/// What a sketch aggregate builds from its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Build {
    /// `theta_sketch_agg(x[, lg])`
    Theta,
    /// `theta_union_agg(sketch[, lg])` / `theta_intersection_agg(sketch)`
    ThetaUnion,
    ThetaIntersection,
    /// `tuple_sketch_agg_*(key, summary[, lg[, mode]])`
    Tuple(bool),
    TupleUnion(bool),
    TupleIntersection(bool),
    /// `hll_sketch_agg(x[, lg])` / `hll_union_agg(sketch[, allow])`
    Hll,
    HllUnion,
    /// `kll_sketch_agg_*(x[, k])` / `kll_merge_agg_*(sketch)`
    Kll(u8),
    KllMerge(u8),
}

fn item_of(code: u8) -> Item {
    match code {
        0 => Item::Bigint,
        1 => Item::Double,
        _ => Item::Float,
    }
}

pub(super) fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    let mut builds = vec![
        ("theta_sketch_agg", Build::Theta),
        ("theta_union_agg", Build::ThetaUnion),
        ("theta_intersection_agg", Build::ThetaIntersection),
        ("tuple_sketch_agg_double", Build::Tuple(false)),
        ("tuple_sketch_agg_integer", Build::Tuple(true)),
        ("tuple_union_agg_double", Build::TupleUnion(false)),
        ("tuple_union_agg_integer", Build::TupleUnion(true)),
        (
            "tuple_intersection_agg_double",
            Build::TupleIntersection(false),
        ),
        (
            "tuple_intersection_agg_integer",
            Build::TupleIntersection(true),
        ),
        ("hll_sketch_agg", Build::Hll),
        ("hll_union_agg", Build::HllUnion),
    ];
    for (item, agg, merge) in [
        (
            Item::Bigint,
            "kll_sketch_agg_bigint",
            "kll_merge_agg_bigint",
        ),
        (
            Item::Double,
            "kll_sketch_agg_double",
            "kll_merge_agg_double",
        ),
        (Item::Float, "kll_sketch_agg_float", "kll_merge_agg_float"),
    ] {
        builds.push((agg, Build::Kll(item.code())));
        builds.push((merge, Build::KllMerge(item.code())));
    }
    builds
        .into_iter()
        .map(|(name, build)| {
            Arc::new(AggregateUDF::from(SketchAggregate {
                name,
                build,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SketchAggregate {
    name: &'static str,
    build: Build,
    signature: Signature,
}

impl AggregateUDFImpl for SketchAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let Some(first) = arg_types.first() else {
            return plan_err!(
                "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] `{}` needs an argument",
                self.name
            );
        };
        let mut out = match self.build {
            Build::Kll(code) => vec![item_of(code).data_type()],
            Build::Tuple(integer_summary) => {
                let summary = if integer_summary {
                    DataType::Int64
                } else {
                    DataType::Float64
                };
                vec![first.clone(), summary]
            }
            Build::Theta | Build::Hll => vec![first.clone()],
            _ => vec![DataType::Binary],
        };
        for t in &arg_types[out.len().min(arg_types.len())..] {
            out.push(if t.is_integer() {
                DataType::Int32
            } else if crate::analyzer::is_text(t) {
                DataType::Utf8
            } else {
                t.clone()
            });
        }
        out.truncate(arg_types.len());
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<Arc<Field>>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}_sketch", args.name),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let literal = |i: usize| {
            args.exprs
                .get(i)
                .and_then(|e| e.downcast_ref::<Literal>())
                .map(|l| l.value().clone())
        };
        let name = self.name;
        let sketch = match self.build {
            Build::Theta | Build::ThetaUnion => Sketch::Kmv(Some(Kmv::new(
                lg_k(literal(1).as_ref(), 12, name)?,
                None,
                Mode::Sum,
            ))),
            Build::ThetaIntersection | Build::TupleIntersection(_) => Sketch::Kmv(None),
            Build::Tuple(integer_summary) => {
                let mode = match literal(3).as_ref().and_then(text) {
                    Some(mode) => Mode::parse(mode)?,
                    None => Mode::Sum,
                };
                Sketch::Kmv(Some(Kmv::new(
                    lg_k(literal(2).as_ref(), 12, name)?,
                    Some(integer_summary),
                    mode,
                )))
            }
            Build::TupleUnion(integer_summary) => {
                let mode = match literal(2).as_ref().and_then(text) {
                    Some(mode) => Mode::parse(mode)?,
                    None => Mode::Sum,
                };
                Sketch::Kmv(Some(Kmv::new(
                    lg_k(literal(1).as_ref(), 12, name)?,
                    Some(integer_summary),
                    mode,
                )))
            }
            Build::Hll => {
                let lg = match literal(1).as_ref().and_then(integer) {
                    None => 12,
                    Some(lg) if (4..=21).contains(&lg) => lg as u8,
                    Some(lg) => {
                        return exec_err!(
                            "[HLL_INVALID_LG_K] Invalid call to `hll_sketch_agg`; only `lgConfigK` \
                             values between 4 and 21, inclusive, are allowed: {lg}."
                        );
                    }
                };
                Sketch::Hll(Some(Hll::new(lg)))
            }
            Build::HllUnion => Sketch::Hll(None),
            Build::Kll(code) => {
                let k = match literal(1).as_ref().and_then(integer) {
                    None => 200,
                    Some(k) if (8..=65535).contains(&k) => k as u16,
                    Some(k) => {
                        return exec_err!(
                            "[KLL_SKETCH_K_OUT_OF_RANGE] The `k` of `{name}` must be between 8 \
                             and 65535, got {k}."
                        );
                    }
                };
                Sketch::Kll(Some(Kll::new(item_of(code), k)))
            }
            Build::KllMerge(_) => Sketch::Kll(None),
        };
        let allow_different = matches!(literal(1), Some(ScalarValue::Boolean(Some(true))));
        Ok(Box::new(SketchAccumulator {
            build: self.build,
            name,
            sketch,
            allow_different,
        }))
    }
}

/// A sketch being built; `None` until the first input (for merges with no identity).
#[derive(Debug)]
enum Sketch {
    Kmv(Option<Kmv>),
    Hll(Option<Hll>),
    Kll(Option<Kll>),
}

#[derive(Debug)]
struct SketchAccumulator {
    build: Build,
    name: &'static str,
    sketch: Sketch,
    allow_different: bool,
}

impl SketchAccumulator {
    /// Merges a serialized sketch (another partial result or an input sketch).
    fn merge_bytes(&mut self, data: &[u8], intersect: bool) -> Result<()> {
        let name = self.name;
        match &mut self.sketch {
            Sketch::Kmv(current) => {
                let other = Kmv::from_bytes(data, name)?;
                *current = Some(match current.take() {
                    None => other,
                    Some(mine) if intersect => mine.intersection(&other),
                    Some(mine) => {
                        let lg = mine.lg_k;
                        let mode = mine.mode;
                        let mut union = mine.union(&other, lg);
                        union.mode = mode;
                        union
                    }
                });
            }
            Sketch::Hll(current) => {
                let other = Hll::from_bytes(data, name)?;
                *current = Some(match current.take() {
                    None => other,
                    Some(mine) => mine.union(&other, self.allow_different)?,
                });
            }
            Sketch::Kll(current) => {
                let item = match self.build {
                    Build::Kll(code) | Build::KllMerge(code) => item_of(code),
                    _ => Item::Double,
                };
                let other = Kll::from_bytes(data, item, name)?;
                match current {
                    None => *current = Some(other),
                    Some(mine) => mine.merge(&other),
                }
            }
        }
        Ok(())
    }

    fn intersects(&self) -> bool {
        matches!(
            self.build,
            Build::ThetaIntersection | Build::TupleIntersection(_)
        )
    }
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let column = &values[0];
        let intersect = self.intersects();
        for row in 0..column.len() {
            if column.is_null(row) {
                continue;
            }
            let value = ScalarValue::try_from_array(column, row)?;
            match (&mut self.sketch, self.build) {
                (Sketch::Kmv(Some(sketch)), Build::Theta) => {
                    if let Some(hash) = hash_value(&value) {
                        sketch.insert(hash, 1.0);
                    }
                }
                (Sketch::Kmv(Some(sketch)), Build::Tuple(_)) => {
                    let summary = ScalarValue::try_from_array(&values[1], row)?;
                    let summary = match summary.cast_to(&DataType::Float64)? {
                        ScalarValue::Float64(Some(s)) => s,
                        _ => continue,
                    };
                    if let Some(hash) = hash_value(&value) {
                        sketch.insert(hash, summary);
                    }
                }
                (Sketch::Hll(Some(sketch)), Build::Hll) => {
                    if let Some(hash) = hash_value(&value) {
                        sketch.insert(hash);
                    }
                }
                (Sketch::Kll(Some(sketch)), Build::Kll(_)) => {
                    if let Some(key) = sketch.item.key(&value) {
                        sketch.insert(key);
                    }
                }
                _ => {
                    let data = bytes(&value)
                        .ok_or_else(|| invalid_sketch(self.name))?
                        .to_vec();
                    self.merge_bytes(&data, intersect)?;
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let column = states[0].as_binary::<i32>();
        let intersect = self.intersects();
        for row in 0..column.len() {
            if !column.is_null(row) {
                self.merge_bytes(column.value(row), intersect)?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(match &self.sketch {
            Sketch::Kmv(sketch) => sketch.as_ref().map(Kmv::to_bytes),
            Sketch::Hll(sketch) => sketch.as_ref().map(Hll::to_bytes),
            Sketch::Kll(sketch) => sketch.as_ref().map(Kll::to_bytes),
        }))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + match &self.sketch {
                Sketch::Kmv(s) => s.as_ref().map_or(0, |s| s.entries.len() * 32),
                Sketch::Hll(s) => s.as_ref().map_or(0, |s| s.registers.len()),
                Sketch::Kll(s) => s
                    .as_ref()
                    .map_or(0, |s| s.levels.iter().map(|l| l.len() * 8).sum()),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theta_sketches_count_exactly_until_full_and_estimate_after() {
        let mut small = Kmv::new(12, None, Mode::Sum);
        for v in [1i64, 1, 2, 2, 3] {
            small.insert(hash_value(&ScalarValue::Int64(Some(v))).unwrap(), 1.0);
        }
        assert_eq!(small.estimate(), 3.0);
        let mut big = Kmv::new(10, None, Mode::Sum);
        for v in 0..100_000i64 {
            big.insert(hash_value(&ScalarValue::Int64(Some(v))).unwrap(), 1.0);
        }
        assert!(big.entries.len() <= 1024);
        let error = (big.estimate() - 100_000.0).abs() / 100_000.0;
        assert!(error < 0.1, "estimate {} off by {error}", big.estimate());
    }

    #[test]
    fn hll_and_kll_stay_bounded_and_close() {
        let mut hll = Hll::new(12);
        for v in 0..50_000i64 {
            hll.insert(hash_value(&ScalarValue::Int64(Some(v))).unwrap());
        }
        assert!((hll.estimate() - 50_000.0).abs() / 50_000.0 < 0.05);
        let mut kll = Kll::new(Item::Bigint, 200);
        for v in 0..100_000i64 {
            kll.insert(v);
        }
        assert!(kll.levels.iter().map(Vec::len).sum::<usize>() < 2_000);
        let median = kll.quantile(0.5).unwrap();
        assert!((median - 50_000).abs() < 3_000, "median {median}");
        assert!((kll.rank(25_000) - 0.25).abs() < 0.03);
    }
}
