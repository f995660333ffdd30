//! Spark's vector functions on `array<float>`: `vector_inner_product`,
//! `vector_cosine_similarity`, `vector_l2_distance`, `vector_norm`, `vector_normalize`,
//! and the aggregates `vector_sum` and `vector_avg` (element by element). Sums are taken in
//! `double` and answered as `float`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float32Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ScalarUDF, Signature, Volatility,
};

use super::row::returns::float;
use super::row::{RowContext, RowFunction, arity};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("vector_inner_product", two_vectors, float, |a, _| {
            pair(a, |x, y| Some(dot(x, y)))
        })
        .udf(),
        RowFunction::new("vector_cosine_similarity", two_vectors, float, |a, _| {
            pair(a, |x, y| {
                let norms = dot(x, x).sqrt() * dot(y, y).sqrt();
                (norms != 0.0).then(|| dot(x, y) / norms)
            })
        })
        .udf(),
        RowFunction::new("vector_l2_distance", two_vectors, float, |a, _| {
            pair(a, |x, y| {
                Some(
                    x.iter()
                        .zip(y)
                        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                        .sum::<f64>()
                        .sqrt(),
                )
            })
        })
        .udf(),
        RowFunction::new("vector_norm", vector_and_degree, float, vector_norm).udf(),
        RowFunction::new(
            "vector_normalize",
            vector_and_degree,
            vector,
            vector_normalize,
        )
        .udf(),
    ]
}

pub(super) fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(VectorAggregate::new(
            "vector_sum",
            false,
        ))),
        Arc::new(AggregateUDF::from(VectorAggregate::new("vector_avg", true))),
    ]
}

fn vector_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float32, true)))
}

fn vector(_: &[DataType]) -> Result<DataType> {
    Ok(vector_type())
}

fn two_vectors(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("vector_inner_product", types, 2, 2)?;
    Ok(vec![vector_type(), vector_type()])
}

fn vector_and_degree(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("vector_norm", types, 1, 2)?;
    let mut out = vec![vector_type()];
    out.extend(types.get(1).map(|_| DataType::Float32));
    Ok(out)
}

/// The elements of a vector value; `None` when it holds a NULL.
fn elements(value: &ScalarValue) -> Option<Vec<f32>> {
    let ScalarValue::List(list) = value else {
        return None;
    };
    let values = list.value(0);
    let floats = values.as_primitive::<Float32Type>();
    if floats.null_count() > 0 {
        return None;
    }
    Some(floats.values().to_vec())
}

/// The dot product, summed in `double`.
fn dot(x: &[f32], y: &[f32]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

/// A measure of two vectors, computed in `double` and answered as a `float`.
fn pair(args: &[ScalarValue], f: impl Fn(&[f32], &[f32]) -> Option<f64>) -> Result<ScalarValue> {
    let (Some(x), Some(y)) = (elements(&args[0]), elements(&args[1])) else {
        return Ok(ScalarValue::Float32(None));
    };
    if x.len() != y.len() {
        return exec_err!(
            "[VECTOR_DIMENSION_MISMATCH] Vectors must have the same dimension, got {} and {}.",
            x.len(),
            y.len()
        );
    }
    Ok(ScalarValue::Float32(f(&x, &y).map(|v| v as f32)))
}

fn norm(x: &[f32], degree: f32) -> f32 {
    let degree = f64::from(degree);
    let norm = if degree.is_infinite() {
        x.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())))
    } else if degree == 1.0 {
        x.iter().map(|v| f64::from(v.abs())).sum()
    } else if degree == 2.0 {
        dot(x, x).sqrt()
    } else {
        x.iter()
            .map(|v| f64::from(v.abs()).powf(degree))
            .sum::<f64>()
            .powf(1.0 / degree)
    };
    norm as f32
}

fn degree(args: &[ScalarValue]) -> f32 {
    match args.get(1) {
        Some(ScalarValue::Float32(Some(d))) => *d,
        _ => 2.0,
    }
}

fn vector_norm(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Float32(
        elements(&args[0]).map(|x| norm(&x, degree(args))),
    ))
}

fn vector_normalize(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some(x) = elements(&args[0]) else {
        return Ok(ScalarValue::Null);
    };
    let n = norm(&x, degree(args));
    let values: Vec<ScalarValue> = x
        .iter()
        .map(|v| ScalarValue::Float32(if n == 0.0 { None } else { Some(v / n) }))
        .collect();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values,
        &DataType::Float32,
    )))
}

/// `vector_sum` / `vector_avg`: the element-wise sum (or mean) of non-NULL vectors.
#[derive(Debug, PartialEq, Eq, Hash)]
struct VectorAggregate {
    name: &'static str,
    average: bool,
    signature: Signature,
}

impl VectorAggregate {
    fn new(name: &'static str, average: bool) -> Self {
        Self {
            name,
            average,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for VectorAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        arity(self.name, arg_types, 1, 1)?;
        Ok(vec![vector_type()])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(vector_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<Arc<Field>>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}_sum", args.name),
                vector_type(),
                true,
            )),
            Arc::new(Field::new(
                format!("{}_count", args.name),
                DataType::Int64,
                true,
            )),
        ])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(VectorAccumulator {
            sum: None,
            count: 0,
            average: self.average,
        }))
    }
}

#[derive(Debug)]
struct VectorAccumulator {
    /// Sums in `double`, so that the order rows arrive in changes little.
    sum: Option<Vec<f64>>,
    count: i64,
    average: bool,
}

impl VectorAccumulator {
    fn add(&mut self, values: &[f32], count: i64) -> Result<()> {
        match &mut self.sum {
            None => self.sum = Some(values.iter().map(|v| f64::from(*v)).collect()),
            Some(sum) if sum.len() != values.len() => {
                return exec_err!(
                    "[VECTOR_DIMENSION_MISMATCH] Vectors must have the same dimension, got {} \
                     and {}.",
                    sum.len(),
                    values.len()
                );
            }
            Some(sum) => sum
                .iter_mut()
                .zip(values)
                .for_each(|(s, v)| *s += f64::from(*v)),
        }
        self.count += count;
        Ok(())
    }

    fn vector(&self, divide: bool) -> ScalarValue {
        let Some(sum) = &self.sum else {
            return ScalarValue::List(Arc::new(ListArray::new_null(
                Arc::new(Field::new_list_field(DataType::Float32, true)),
                1,
            )));
        };
        let values: Vec<ScalarValue> = sum
            .iter()
            .map(|s| {
                let v = if divide { s / self.count as f64 } else { *s };
                ScalarValue::Float32(Some(v as f32))
            })
            .collect();
        ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Float32))
    }
}

fn rows(array: &ArrayRef) -> impl Iterator<Item = Option<Vec<f32>>> + '_ {
    let list = array.as_list::<i32>();
    (0..list.len()).map(move |i| {
        if list.is_null(i) {
            return None;
        }
        let values = list.value(i);
        let floats = values.as_any().downcast_ref::<Float32Array>()?;
        (floats.null_count() == 0).then(|| floats.values().to_vec())
    })
}

impl Accumulator for VectorAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for row in rows(&values[0]).flatten() {
            self.add(&row, 1)?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for (i, row) in rows(&states[0]).enumerate() {
            if let Some(row) = row {
                self.add(&row, counts.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            self.vector(false),
            ScalarValue::Int64(Some(self.count)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.vector(self.average))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sum.as_ref().map_or(0, |s| s.len() * 8)
    }
}
