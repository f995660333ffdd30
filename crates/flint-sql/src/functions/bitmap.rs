//! Spark's bitmap aggregates over 4096-byte bitmaps (32768 bits, bit `p` in byte `p / 8`,
//! least significant bit first): `bitmap_construct_agg(position)`, `bitmap_or_agg(bitmap)`
//! and `bitmap_and_agg(bitmap)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::row::{arity, integer};

const BITMAP_BYTES: usize = 4096;

pub(super) fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    [
        ("bitmap_construct_agg", Kind::Construct),
        ("bitmap_or_agg", Kind::Or),
        ("bitmap_and_agg", Kind::And),
    ]
    .into_iter()
    .map(|(name, kind)| {
        Arc::new(AggregateUDF::from(BitmapAggregate {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Construct,
    Or,
    And,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BitmapAggregate {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl AggregateUDFImpl for BitmapAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        arity(self.name, arg_types, 1, 1)?;
        Ok(vec![match self.kind {
            Kind::Construct => DataType::Int64,
            _ => DataType::Binary,
        }])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<Arc<Field>>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}_bitmap", args.name),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // AND starts from all ones (and stays so when no row arrives, as Spark's).
        let fill = if self.kind == Kind::And { 0xff } else { 0 };
        Ok(Box::new(BitmapAccumulator {
            kind: self.kind,
            bitmap: vec![fill; BITMAP_BYTES],
        }))
    }
}

#[derive(Debug)]
struct BitmapAccumulator {
    kind: Kind,
    bitmap: Vec<u8>,
}

impl BitmapAccumulator {
    fn combine(&mut self, other: &[u8], and: bool) {
        for (i, byte) in self.bitmap.iter_mut().enumerate() {
            let o = other.get(i).copied().unwrap_or(0);
            if and {
                *byte &= o;
            } else {
                *byte |= o;
            }
        }
    }
}

impl Accumulator for BitmapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let column = &values[0];
        for row in 0..column.len() {
            if column.is_null(row) {
                continue;
            }
            match self.kind {
                Kind::Construct => {
                    let position = integer(&ScalarValue::try_from_array(column, row)?);
                    match position {
                        Some(p) if (0..(BITMAP_BYTES * 8) as i64).contains(&p) => {
                            self.bitmap[p as usize / 8] |= 1 << (p % 8);
                        }
                        Some(p) => {
                            return exec_err!(
                                "[INVALID_BITMAP_POSITION] The 0-indexed bitmap position {p} is \
                                 out of bounds. The bitmap has 32768 bits (4096 bytes)."
                            );
                        }
                        None => {}
                    }
                }
                Kind::Or | Kind::And => {
                    let bytes = column.as_binary::<i32>().value(row).to_vec();
                    self.combine(&bytes, self.kind == Kind::And);
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let column = states[0].as_binary::<i32>();
        for row in 0..column.len() {
            if !column.is_null(row) {
                let bytes = column.value(row).to_vec();
                self.combine(&bytes, self.kind == Kind::And);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(Some(self.bitmap.clone())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.bitmap.len()
    }
}
