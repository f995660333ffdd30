//! Spark's statistical aggregates with accumulators of their own: `mode`,
//! `percentile_approx`/`approx_percentile`, `percentile_disc`, `skewness` and `kurtosis`.
//!
//! `percentile_approx` answers exactly (the nearest-rank value Spark's summaries give for
//! data below their accuracy), so it keeps every value of the group.
//!
//! The parser writes `mode() WITHIN GROUP (ORDER BY x [DESC])` as `mode(x, true[, true])`
//! and `percentile_disc(p) WITHIN GROUP (ORDER BY x [DESC])` as
//! `percentile_disc(x, p[, true])`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

pub(super) fn functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(Statistic::new("mode", Kind::Mode))),
        Arc::new(AggregateUDF::from(
            Statistic::new("percentile_approx", Kind::Percentile).aliases(&["approx_percentile"]),
        )),
        Arc::new(AggregateUDF::from(Statistic::new(
            "percentile_disc",
            Kind::Discrete,
        ))),
        Arc::new(AggregateUDF::from(Statistic::new(
            "skewness",
            Kind::Skewness,
        ))),
        Arc::new(AggregateUDF::from(Statistic::new(
            "kurtosis",
            Kind::Kurtosis,
        ))),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Mode,
    /// `percentile_approx(x, p | array(p)[, accuracy])`: the nearest-rank value.
    Percentile,
    /// `percentile_disc(x, p)`: the same rank, as a double for numbers.
    Discrete,
    Skewness,
    Kurtosis,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Statistic {
    name: &'static str,
    kind: Kind,
    aliases: Vec<String>,
    signature: Signature,
}

impl Statistic {
    fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            aliases: Vec::new(),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases = aliases.iter().map(|a| a.to_string()).collect();
        self
    }
}

fn list_of(t: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t.clone(), true)))
}

impl AggregateUDFImpl for Statistic {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let count = arg_types.len();
        match self.kind {
            Kind::Mode if (1..=3).contains(&count) => {
                let mut out = vec![arg_types[0].clone()];
                out.extend(std::iter::repeat_n(DataType::Boolean, count - 1));
                Ok(out)
            }
            Kind::Percentile | Kind::Discrete if (2..=3).contains(&count) => {
                let fraction = match &arg_types[1] {
                    DataType::List(_) | DataType::FixedSizeList(..) | DataType::LargeList(_) => {
                        list_of(&DataType::Float64)
                    }
                    _ => DataType::Float64,
                };
                let third = if self.kind == Kind::Percentile {
                    DataType::Int32
                } else {
                    DataType::Boolean
                };
                let mut out = vec![arg_types[0].clone(), fraction];
                out.extend(arg_types.get(2).map(|_| third));
                Ok(out)
            }
            Kind::Skewness | Kind::Kurtosis if count == 1 => Ok(vec![DataType::Float64]),
            _ => plan_err!(
                "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `{}` does not take {count} parameters.",
                self.name
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let value = arg_types.first().cloned().unwrap_or(DataType::Null);
        let value = if self.kind == Kind::Discrete && value.is_numeric() {
            DataType::Float64
        } else {
            value
        };
        Ok(match self.kind {
            Kind::Mode => value,
            Kind::Percentile | Kind::Discrete => match arg_types.get(1) {
                Some(DataType::List(_)) => list_of(&value),
                _ => value,
            },
            Kind::Skewness | Kind::Kurtosis => DataType::Float64,
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<Arc<Field>>> {
        let value = args.input_fields[0].data_type().clone();
        let field = |name: &str, t: DataType| {
            Arc::new(Field::new(format!("{}_{name}", args.name), t, true))
        };
        Ok(match self.kind {
            Kind::Mode => vec![
                field("values", list_of(&value)),
                field("counts", list_of(&DataType::Int64)),
            ],
            Kind::Percentile | Kind::Discrete => vec![field("values", list_of(&value))],
            Kind::Skewness | Kind::Kurtosis => ["n", "avg", "m2", "m3", "m4"]
                .iter()
                .map(|n| field(n, DataType::Float64))
                .collect(),
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let literal = |i: usize| {
            args.exprs
                .get(i)
                .and_then(|e| e.downcast_ref::<Literal>())
                .map(|l| l.value().clone())
        };
        let value_type = args.exprs[0].data_type(args.schema)?;
        Ok(match self.kind {
            Kind::Mode => Box::new(ModeAccumulator {
                counts: HashMap::new(),
                descending: matches!(literal(2), Some(ScalarValue::Boolean(Some(true)))),
                value_type,
            }),
            Kind::Percentile | Kind::Discrete => {
                let (fractions, array) = match literal(1) {
                    Some(ScalarValue::Float64(Some(p))) => (vec![p], false),
                    Some(ScalarValue::List(list)) => {
                        let values = list.value(0);
                        let values = values.as_primitive::<Float64Type>();
                        (values.iter().map(|v| v.unwrap_or(0.0)).collect(), true)
                    }
                    _ => {
                        return plan_err!(
                            "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] The percentage of `{}` must \
                             be a constant",
                            self.name
                        );
                    }
                };
                if let Some(p) = fractions.iter().find(|p| !(0.0..=1.0).contains(*p)) {
                    return plan_err!(
                        "[DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE] The percentage must be between \
                         0.0 and 1.0, but got {p}"
                    );
                }
                let descending = self.kind == Kind::Discrete
                    && matches!(literal(2), Some(ScalarValue::Boolean(Some(true))));
                Box::new(PercentileAccumulator {
                    values: Vec::new(),
                    fractions,
                    array,
                    descending,
                    discrete: self.kind == Kind::Discrete,
                    value_type,
                    return_type: args.return_field.data_type().clone(),
                })
            }
            Kind::Skewness | Kind::Kurtosis => Box::new(MomentAccumulator {
                moments: Moments::default(),
                kurtosis: self.kind == Kind::Kurtosis,
            }),
        })
    }
}

/// The non-NULL values of row `i`'s list in `array`.
fn list_values(array: &ArrayRef, i: usize) -> Result<Vec<ScalarValue>> {
    if array.is_null(i) {
        return Ok(Vec::new());
    }
    let list = array.as_list::<i32>().value(i);
    (0..list.len())
        .filter(|j| !list.is_null(*j))
        .map(|j| ScalarValue::try_from_array(&list, j))
        .collect()
}

fn list_scalar(values: &[ScalarValue], t: &DataType) -> ScalarValue {
    ScalarValue::List(ScalarValue::new_list_nullable(values, t))
}

#[derive(Debug)]
struct ModeAccumulator {
    counts: HashMap<ScalarValue, i64>,
    /// Ties go to the largest value (`ORDER BY x DESC`), else the smallest.
    descending: bool,
    value_type: DataType,
}

impl Accumulator for ModeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let column = &values[0];
        for i in 0..column.len() {
            if !column.is_null(i) {
                *self
                    .counts
                    .entry(ScalarValue::try_from_array(column, i)?)
                    .or_insert(0) += 1;
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for i in 0..states[0].len() {
            let values = list_values(&states[0], i)?;
            let counts = list_values(&states[1], i)?;
            for (value, count) in values.into_iter().zip(counts) {
                if let ScalarValue::Int64(Some(count)) = count {
                    *self.counts.entry(value).or_insert(0) += count;
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (values, counts): (Vec<ScalarValue>, Vec<ScalarValue>) = self
            .counts
            .iter()
            .map(|(v, c)| (v.clone(), ScalarValue::Int64(Some(*c))))
            .unzip();
        Ok(vec![
            list_scalar(&values, &self.value_type),
            list_scalar(&counts, &DataType::Int64),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let best = self.counts.iter().max_by(|(a, ca), (b, cb)| {
            ca.cmp(cb).then_with(|| {
                let order = a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal);
                if self.descending {
                    order
                } else {
                    order.reverse()
                }
            })
        });
        match best {
            Some((value, _)) => Ok(value.clone()),
            None => ScalarValue::try_from(&self.value_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.len() * 64
    }
}

#[derive(Debug)]
struct PercentileAccumulator {
    values: Vec<ScalarValue>,
    fractions: Vec<f64>,
    array: bool,
    descending: bool,
    discrete: bool,
    value_type: DataType,
    return_type: DataType,
}

impl Accumulator for PercentileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let column = &values[0];
        for i in 0..column.len() {
            if !column.is_null(i) {
                self.values.push(ScalarValue::try_from_array(column, i)?);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for i in 0..states[0].len() {
            self.values.extend(list_values(&states[0], i)?);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![list_scalar(&self.values, &self.value_type)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let element = match &self.return_type {
            DataType::List(field) if self.array => field.data_type().clone(),
            other => other.clone(),
        };
        if self.values.is_empty() {
            return ScalarValue::try_from(&self.return_type);
        }
        let mut sorted = self.values.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        if self.descending {
            sorted.reverse();
        }
        let n = sorted.len();
        let picks = self
            .fractions
            .iter()
            .map(|p| {
                let rank = (p * n as f64).ceil() as usize;
                let value = sorted[rank.saturating_sub(1).min(n - 1)].clone();
                if self.discrete && value.data_type() != element {
                    value.cast_to(&element)
                } else {
                    Ok(value)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if self.array {
            Ok(list_scalar(&picks, &element))
        } else {
            match picks.into_iter().next() {
                Some(value) => Ok(value),
                None => exec_err!("percentile: no percentage"),
            }
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.len() * 48
    }
}

/// Spark's `CentralMomentAgg` buffer: count, mean and central moment sums.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    n: f64,
    avg: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    fn add(&mut self, value: f64) {
        let n = self.n + 1.0;
        let delta = value - self.avg;
        let delta_n = delta / n;
        let avg = self.avg + delta_n;
        let m2 = self.m2 + delta * (delta - delta_n);
        let delta2 = delta * delta;
        let delta_n2 = delta_n * delta_n;
        let m3 = self.m3 - 3.0 * delta_n * m2 + delta * (delta2 - delta_n2);
        let m4 = self.m4 - 4.0 * delta_n * m3 - 6.0 * delta_n2 * m2
            + delta * (delta * delta2 - delta_n * delta_n2);
        *self = Self { n, avg, m2, m3, m4 };
    }

    fn merge(&mut self, other: Moments) {
        let (n1, n2) = (self.n, other.n);
        let n = n1 + n2;
        if n == 0.0 {
            return;
        }
        let delta = other.avg - self.avg;
        let delta_n = delta / n;
        let avg = self.avg + delta_n * n2;
        let m2 = self.m2 + other.m2 + delta * delta_n * n1 * n2;
        let m3 = self.m3
            + other.m3
            + delta_n * delta_n * delta * n1 * n2 * (n1 - n2)
            + 3.0 * delta_n * (n1 * other.m2 - n2 * self.m2);
        let m4 = self.m4
            + other.m4
            + delta_n * delta_n * delta_n * delta * n1 * n2 * (n1 * n1 - n1 * n2 + n2 * n2)
            + 6.0 * delta_n * delta_n * (n1 * n1 * other.m2 + n2 * n2 * self.m2)
            + 4.0 * delta_n * (n1 * other.m3 - n2 * self.m3);
        *self = Self { n, avg, m2, m3, m4 };
    }
}

#[derive(Debug)]
struct MomentAccumulator {
    moments: Moments,
    kurtosis: bool,
}

impl Accumulator for MomentAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let column = values[0].as_primitive::<Float64Type>();
        for value in column.iter().flatten() {
            self.moments.add(value);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let column = |i: usize| states[i].as_primitive::<Float64Type>();
        for row in 0..states[0].len() {
            if states[0].is_null(row) {
                continue;
            }
            self.moments.merge(Moments {
                n: column(0).value(row),
                avg: column(1).value(row),
                m2: column(2).value(row),
                m3: column(3).value(row),
                m4: column(4).value(row),
            });
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let m = self.moments;
        Ok([m.n, m.avg, m.m2, m.m3, m.m4]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let m = self.moments;
        if m.n == 0.0 || m.m2 == 0.0 {
            return Ok(ScalarValue::Float64(None));
        }
        Ok(ScalarValue::Float64(Some(if self.kurtosis {
            m.n * m.m4 / (m.m2 * m.m2) - 3.0
        } else {
            m.n.sqrt() * m.m3 / (m.m2 * m.m2 * m.m2).sqrt()
        })))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
