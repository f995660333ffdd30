//! Spark's higher-order functions (functions taking lambdas), on DataFusion's lambda
//! support: `transform` and `filter` (with the element's index as an optional second
//! parameter), `aggregate`/`reduce`, `zip_with`, `transform_keys`, `transform_values` and
//! `map_filter`, `map_zip_with`. A lambda runs once over all elements of a batch, not once per element.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, MapArray, StructArray,
    UInt32Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{cast, filter, take, take_arrays};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaArgument, LambdaParametersProgress, ValueOrLambda,
    Volatility,
};

pub(crate) fn functions() -> Vec<Arc<HigherOrderUDF>> {
    [
        ("transform", Kind::Transform),
        ("filter", Kind::Filter),
        ("aggregate", Kind::Aggregate),
        ("reduce", Kind::Aggregate),
        ("zip_with", Kind::ZipWith),
        ("transform_keys", Kind::TransformKeys),
        ("transform_values", Kind::TransformValues),
        ("map_filter", Kind::MapFilter),
        ("map_zip_with", Kind::MapZipWith),
    ]
    .into_iter()
    .map(|(name, kind)| {
        Arc::new(HigherOrderUDF::new_from_impl(SparkLambda {
            name,
            kind,
            signature: HigherOrderSignature::user_defined(Volatility::Immutable),
        }))
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Transform,
    Filter,
    Aggregate,
    ZipWith,
    TransformKeys,
    TransformValues,
    MapFilter,
    MapZipWith,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkLambda {
    name: &'static str,
    kind: Kind,
    signature: HigherOrderSignature,
}

fn element(list: &DataType) -> Result<FieldRef> {
    match list {
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            Ok(Arc::clone(field))
        }
        DataType::Null => Ok(Arc::new(Field::new_list_field(DataType::Null, true))),
        other => {
            plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] expects an array, got {other}")
        }
    }
}

fn entries(map: &DataType) -> Result<(FieldRef, FieldRef)> {
    if let DataType::Map(entries, _) = map
        && let DataType::Struct(fields) = entries.data_type()
        && fields.len() == 2
    {
        return Ok((Arc::clone(&fields[0]), Arc::clone(&fields[1])));
    }
    plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] expects a map, got {map}")
}

fn list_type(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(element, true)))
}

fn map_type(key: &DataType, value: &DataType) -> DataType {
    crate::ddl::map_type(key.clone(), value.clone())
}

/// The list arguments as `List` (a fixed-size list is read as one).
fn as_list(array: &ArrayRef) -> Result<ListArray> {
    match array.data_type() {
        DataType::List(_) => Ok(array.as_list::<i32>().clone()),
        DataType::Null => Ok(ListArray::new_null(
            Arc::new(Field::new_list_field(DataType::Null, true)),
            array.len(),
        )),
        other => {
            let field = element(other)?;
            Ok(cast(array, &DataType::List(field))?
                .as_list::<i32>()
                .clone())
        }
    }
}

/// Every element of every non-NULL row in order: the positions of the elements in the
/// list's values, the row each belongs to, its index in its row, and each row's length.
struct Elements {
    positions: UInt32Array,
    rows: UInt32Array,
    indexes: Int32Array,
    lengths: Vec<usize>,
}

fn elements(list: &ListArray) -> Elements {
    let offsets = list.value_offsets();
    let mut positions = Vec::new();
    let mut rows = Vec::new();
    let mut indexes = Vec::new();
    let mut lengths = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) {
            lengths.push(0);
            continue;
        }
        let (start, end) = (offsets[row] as u32, offsets[row + 1] as u32);
        for (i, position) in (start..end).enumerate() {
            positions.push(position);
            rows.push(row as u32);
            indexes.push(i as i32);
        }
        lengths.push((end - start) as usize);
    }
    Elements {
        positions: UInt32Array::from(positions),
        rows: UInt32Array::from(rows),
        indexes: Int32Array::from(indexes),
        lengths,
    }
}

/// Evaluates `lambda` with `params`, the outer columns it captures spread to `rows`.
fn run(lambda: &LambdaArgument, params: &[ArrayRef], rows: &UInt32Array) -> Result<ArrayRef> {
    let closures: Vec<Box<dyn Fn() -> Result<ArrayRef>>> = params
        .iter()
        .map(|p| {
            let p = Arc::clone(p);
            Box::new(move || Ok(Arc::clone(&p))) as Box<dyn Fn() -> Result<ArrayRef>>
        })
        .collect();
    let refs: Vec<&dyn Fn() -> Result<ArrayRef>> = closures.iter().map(|c| c.as_ref()).collect();
    lambda
        .evaluate(&refs, |captures| Ok(take_arrays(captures, rows, None)?))?
        .into_array(rows.len())
}

fn list_from(
    field: FieldRef,
    lengths: &[usize],
    values: ArrayRef,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef> {
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::from_lengths(lengths.iter().copied()),
        values,
        nulls,
    )?))
}

impl HigherOrderUDFImpl for SparkLambda {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let list = |t: &DataType| -> Result<DataType> {
            match t {
                DataType::FixedSizeList(field, _) | DataType::LargeList(field) => {
                    Ok(DataType::List(Arc::clone(field)))
                }
                DataType::List(_) => Ok(t.clone()),
                DataType::Null => Ok(list_type(DataType::Null)),
                other => plan_err!(
                    "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] `{}` expects an array, got {other}",
                    self.name
                ),
            }
        };
        match (self.kind, arg_types) {
            (Kind::Transform | Kind::Filter, [array]) => Ok(vec![list(array)?]),
            (Kind::Aggregate, [array, zero]) => Ok(vec![list(array)?, zero.clone()]),
            (Kind::ZipWith, [a, b]) => Ok(vec![list(a)?, list(b)?]),
            (Kind::TransformKeys | Kind::TransformValues | Kind::MapFilter, [map]) => {
                entries(map)?;
                Ok(vec![map.clone()])
            }
            // Keys of two types meet at their wider type (Spark's `MapZipWithCoercion`).
            (Kind::MapZipWith, [a, b]) => {
                let (key_a, value_a) = entries(a)?;
                let (key_b, value_b) = entries(b)?;
                if key_a.data_type() == key_b.data_type() {
                    return Ok(vec![a.clone(), b.clone()]);
                }
                let Some(key) =
                    datafusion::logical_expr::type_coercion::binary::comparison_coercion(
                        key_a.data_type(),
                        key_b.data_type(),
                    )
                else {
                    return plan_err!(
                        "[DATATYPE_MISMATCH.MAP_ZIP_WITH_DIFF_TYPES] `map_zip_with` needs maps \
                         with keys of the same type, got {} and {}",
                        key_a.data_type(),
                        key_b.data_type()
                    );
                };
                Ok(vec![
                    map_type(&key, value_a.data_type()),
                    map_type(&key, value_b.data_type()),
                ])
            }
            _ => plan_err!(
                "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] `{}` got {} value arguments",
                self.name,
                arg_types.len()
            ),
        }
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let values: Vec<&FieldRef> = fields
            .iter()
            .filter_map(|f| match f {
                ValueOrLambda::Value(v) => Some(v),
                ValueOrLambda::Lambda(_) => None,
            })
            .collect();
        let lambdas = fields.len() - values.len();
        let index = Arc::new(Field::new("index", DataType::Int32, false));
        let parameters = match (self.kind, values.as_slice()) {
            (Kind::Transform | Kind::Filter, [array]) => {
                vec![vec![element(array.data_type())?, index]]
            }
            (Kind::Aggregate, [array, zero]) => {
                let accumulator = Arc::new(Field::new("acc", zero.data_type().clone(), true));
                let mut parameters =
                    vec![vec![Arc::clone(&accumulator), element(array.data_type())?]];
                if lambdas > 1 {
                    parameters.push(vec![accumulator]);
                }
                parameters
            }
            (Kind::ZipWith, [a, b]) => {
                let nullable =
                    |f: FieldRef| Arc::new(Field::new(f.name(), f.data_type().clone(), true));
                vec![vec![
                    nullable(element(a.data_type())?),
                    nullable(element(b.data_type())?),
                ]]
            }
            (Kind::TransformKeys | Kind::TransformValues | Kind::MapFilter, [map]) => {
                let (key, value) = entries(map.data_type())?;
                vec![vec![key, value]]
            }
            (Kind::MapZipWith, [a, b]) => {
                let nullable =
                    |f: FieldRef| Arc::new(Field::new(f.name(), f.data_type().clone(), true));
                let (key, value_a) = entries(a.data_type())?;
                let (_, value_b) = entries(b.data_type())?;
                vec![vec![key, nullable(value_a), nullable(value_b)]]
            }
            _ => return plan_err!("`{}` got unexpected arguments", self.name),
        };
        Ok(LambdaParametersProgress::Complete(parameters))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let fields = args.arg_fields;
        let value = |i: usize| match fields.get(i) {
            Some(ValueOrLambda::Value(v)) => Ok(Arc::clone(v)),
            _ => plan_err!("`{}` expects a value as argument {}", self.name, i + 1),
        };
        let lambda = |i: usize| match fields.get(i) {
            Some(ValueOrLambda::Lambda(l)) => Ok(Arc::clone(l)),
            _ => plan_err!("`{}` expects a lambda as argument {}", self.name, i + 1),
        };
        let data_type = match self.kind {
            Kind::Transform => list_type(lambda(1)?.data_type().clone()),
            Kind::Filter | Kind::MapFilter => value(0)?.data_type().clone(),
            Kind::Aggregate => match fields.get(3) {
                Some(ValueOrLambda::Lambda(finish)) => finish.data_type().clone(),
                _ => value(1)?.data_type().clone(),
            },
            Kind::ZipWith => list_type(lambda(2)?.data_type().clone()),
            Kind::TransformKeys => {
                let (_, v) = entries(value(0)?.data_type())?;
                map_type(lambda(1)?.data_type(), v.data_type())
            }
            Kind::TransformValues => {
                let (k, _) = entries(value(0)?.data_type())?;
                map_type(k.data_type(), lambda(1)?.data_type())
            }
            Kind::MapZipWith => {
                let (k, _) = entries(value(0)?.data_type())?;
                map_type(k.data_type(), lambda(2)?.data_type())
            }
        };
        Ok(Arc::new(Field::new(self.name, data_type, true)))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut values = Vec::new();
        let mut lambdas = Vec::new();
        for arg in &args.args {
            match arg {
                ValueOrLambda::Value(v) => values.push(v.to_array(rows)?),
                ValueOrLambda::Lambda(l) => lambdas.push(l),
            }
        }
        let return_type = args.return_field.data_type().clone();
        let result = match self.kind {
            Kind::Transform | Kind::Filter => {
                self.transform_or_filter(&values[0], lambdas[0], &return_type)?
            }
            Kind::Aggregate => aggregate(&values[0], &values[1], &lambdas, &return_type)?,
            Kind::ZipWith => zip_with(&values[0], &values[1], lambdas[0], &return_type)?,
            Kind::TransformKeys | Kind::TransformValues | Kind::MapFilter => {
                self.map_lambda(&values[0], lambdas[0], &return_type)?
            }
            Kind::MapZipWith => map_zip_with(&values[0], &values[1], lambdas[0], &return_type)?,
        };
        Ok(ColumnarValue::Array(result))
    }
}

impl SparkLambda {
    fn transform_or_filter(
        &self,
        array: &ArrayRef,
        lambda: &LambdaArgument,
        return_type: &DataType,
    ) -> Result<ArrayRef> {
        let list = as_list(array)?;
        let found = elements(&list);
        let items = take(list.values(), &found.positions, None)?;
        let indexes: ArrayRef = Arc::new(found.indexes.clone());
        let output = run(lambda, &[Arc::clone(&items), indexes], &found.rows)?;
        let field = element(return_type)?;
        if self.kind == Kind::Transform {
            let output = cast(&output, field.data_type())?;
            return list_from(field, &found.lengths, output, list.nulls().cloned());
        }
        let keep = output.as_boolean();
        // NULL is not true: the element goes.
        let keep = BooleanArray::from_iter(keep.iter().map(|k| Some(k == Some(true))));
        let mut lengths = vec![0usize; list.len()];
        for (row, kept) in found.rows.values().iter().zip(keep.iter()) {
            if kept == Some(true) {
                lengths[*row as usize] += 1;
            }
        }
        list_from(
            field,
            &lengths,
            filter(&items, &keep)?,
            list.nulls().cloned(),
        )
    }

    fn map_lambda(
        &self,
        array: &ArrayRef,
        lambda: &LambdaArgument,
        return_type: &DataType,
    ) -> Result<ArrayRef> {
        let map = array.as_map();
        let offsets = map.value_offsets();
        let mut positions = Vec::new();
        let mut rows = Vec::new();
        let mut lengths = Vec::with_capacity(map.len());
        for row in 0..map.len() {
            if map.is_null(row) {
                lengths.push(0);
                continue;
            }
            let (start, end) = (offsets[row] as u32, offsets[row + 1] as u32);
            positions.extend(start..end);
            rows.extend(std::iter::repeat_n(row as u32, (end - start) as usize));
            lengths.push((end - start) as usize);
        }
        let positions = UInt32Array::from(positions);
        let rows = UInt32Array::from(rows);
        let keys = take(map.keys(), &positions, None)?;
        let values = take(map.values(), &positions, None)?;
        let output = run(lambda, &[Arc::clone(&keys), Arc::clone(&values)], &rows)?;
        let DataType::Map(entries_field, sorted) = return_type else {
            return exec_err!("`{}` must return a map", self.name);
        };
        let DataType::Struct(fields) = entries_field.data_type() else {
            return exec_err!("`{}` must return a map", self.name);
        };
        let (keys, values, lengths) = match self.kind {
            Kind::TransformKeys => {
                if output.null_count() > 0 {
                    return exec_err!("[NULL_MAP_KEY] Cannot use null as map key. SQLSTATE: 2200E");
                }
                (cast(&output, fields[0].data_type())?, values, lengths)
            }
            Kind::TransformValues => (keys, cast(&output, fields[1].data_type())?, lengths),
            _ => {
                let keep = output.as_boolean();
                let keep = BooleanArray::from_iter(keep.iter().map(|k| Some(k == Some(true))));
                let mut kept = vec![0usize; map.len()];
                for (row, k) in rows.values().iter().zip(keep.iter()) {
                    if k == Some(true) {
                        kept[*row as usize] += 1;
                    }
                }
                (filter(&keys, &keep)?, filter(&values, &keep)?, kept)
            }
        };
        let entries = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
        Ok(Arc::new(MapArray::try_new(
            Arc::clone(entries_field),
            OffsetBuffer::from_lengths(lengths),
            entries,
            map.nulls().cloned(),
            *sorted,
        )?))
    }
}

/// `aggregate(array, zero, (acc, x) -> merge[, acc -> finish])`: the merge lambda runs
/// once per element position over the rows that have an element there.
fn aggregate(
    array: &ArrayRef,
    zero: &ArrayRef,
    lambdas: &[&LambdaArgument],
    return_type: &DataType,
) -> Result<ArrayRef> {
    let list = as_list(array)?;
    let found = elements(&list);
    let accumulator_type = zero.data_type().clone();
    let mut accumulators: ArrayRef = Arc::clone(zero);
    let longest = found.lengths.iter().copied().max().unwrap_or(0);
    let offsets = list.value_offsets();
    for position in 0..longest {
        // Rows with an element at `position`, and where that element is.
        let (rows, items): (Vec<u32>, Vec<u32>) = (0..list.len())
            .filter(|row| found.lengths[*row] > position)
            .map(|row| (row as u32, offsets[row] as u32 + position as u32))
            .unzip();
        let rows = UInt32Array::from(rows);
        let items = take(list.values(), &UInt32Array::from(items), None)?;
        let current = take(&accumulators, &rows, None)?;
        let merged = cast(
            &run(lambdas[0], &[current, items], &rows)?,
            &accumulator_type,
        )?;
        // Scatter the new values back: rows without an element keep theirs.
        let mut source: Vec<Option<u32>> = (0..list.len() as u32).map(Some).collect();
        let base = list.len() as u32;
        for (i, row) in rows.values().iter().enumerate() {
            source[*row as usize] = Some(base + i as u32);
        }
        let combined =
            datafusion::arrow::compute::concat(&[accumulators.as_ref(), merged.as_ref()])?;
        accumulators = take(&combined, &UInt32Array::from(source), None)?;
    }
    let all_rows = UInt32Array::from((0..list.len() as u32).collect::<Vec<_>>());
    let result = match lambdas.get(1) {
        Some(finish) => run(finish, &[accumulators], &all_rows)?,
        None => accumulators,
    };
    let result = cast(&result, return_type)?;
    // A NULL array aggregates to NULL.
    match list.nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            let keep = BooleanArray::from_iter((0..list.len()).map(|i| Some(!list.is_null(i))));
            Ok(datafusion::arrow::compute::nullif(
                &result,
                &datafusion::arrow::compute::not(&keep)?,
            )?)
        }
        _ => Ok(result),
    }
}

/// `map_zip_with(m1, m2, (k, v1, v2) -> f)`: every key of either map (the first map's in
/// order, then the second's new ones), with its value in each map or NULL; a NULL map
/// gives NULL.
fn map_zip_with(
    a: &ArrayRef,
    b: &ArrayRef,
    lambda: &LambdaArgument,
    return_type: &DataType,
) -> Result<ArrayRef> {
    let (a, b) = (a.as_map(), b.as_map());
    let (a_offsets, b_offsets) = (a.value_offsets(), b.value_offsets());
    let b_base = a.keys().len() as u32;
    let mut keys_from = Vec::new();
    let mut from_a = Vec::new();
    let mut from_b = Vec::new();
    let mut rows = Vec::new();
    let mut lengths = Vec::with_capacity(a.len());
    for row in 0..a.len() {
        if a.is_null(row) || b.is_null(row) {
            lengths.push(0);
            continue;
        }
        let start = from_a.len();
        let mut seen: std::collections::HashMap<ScalarValue, usize> = Default::default();
        for i in a_offsets[row] as u32..a_offsets[row + 1] as u32 {
            let key = ScalarValue::try_from_array(a.keys(), i as usize)?;
            if let Some(at) = seen.get(&key) {
                from_a[*at] = Some(i);
                continue;
            }
            seen.insert(key, from_a.len());
            keys_from.push(i);
            from_a.push(Some(i));
            from_b.push(None);
        }
        for i in b_offsets[row] as u32..b_offsets[row + 1] as u32 {
            let key = ScalarValue::try_from_array(b.keys(), i as usize)?;
            match seen.get(&key) {
                Some(at) => from_b[*at] = Some(i),
                None => {
                    seen.insert(key, from_a.len());
                    keys_from.push(b_base + i);
                    from_a.push(None);
                    from_b.push(Some(i));
                }
            }
        }
        rows.extend(std::iter::repeat_n(row as u32, from_a.len() - start));
        lengths.push(from_a.len() - start);
    }
    let all_keys = datafusion::arrow::compute::concat(&[a.keys().as_ref(), b.keys().as_ref()])?;
    let keys = take(&all_keys, &UInt32Array::from(keys_from), None)?;
    let values_a = take(a.values(), &UInt32Array::from(from_a), None)?;
    let values_b = take(b.values(), &UInt32Array::from(from_b), None)?;
    let rows = UInt32Array::from(rows);
    let output = run(lambda, &[Arc::clone(&keys), values_a, values_b], &rows)?;
    let DataType::Map(entries_field, sorted) = return_type else {
        return exec_err!("`map_zip_with` must return a map");
    };
    let DataType::Struct(fields) = entries_field.data_type() else {
        return exec_err!("`map_zip_with` must return a map");
    };
    let values = cast(&output, fields[1].data_type())?;
    let entries = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
    let nulls = NullBuffer::from_iter((0..a.len()).map(|r| !a.is_null(r) && !b.is_null(r)));
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Ok(Arc::new(MapArray::try_new(
        Arc::clone(entries_field),
        OffsetBuffer::from_lengths(lengths),
        entries,
        nulls,
        *sorted,
    )?))
}

/// `zip_with(a, b, (x, y) -> f)`: pairs elements by position; the shorter array is padded
/// with NULLs.
fn zip_with(
    a: &ArrayRef,
    b: &ArrayRef,
    lambda: &LambdaArgument,
    return_type: &DataType,
) -> Result<ArrayRef> {
    let (a, b) = (as_list(a)?, as_list(b)?);
    let (a_offsets, b_offsets) = (a.value_offsets(), b.value_offsets());
    let mut from_a = Vec::new();
    let mut from_b = Vec::new();
    let mut rows = Vec::new();
    let mut lengths = Vec::with_capacity(a.len());
    for row in 0..a.len() {
        if a.is_null(row) || b.is_null(row) {
            lengths.push(0);
            continue;
        }
        let len_a = (a_offsets[row + 1] - a_offsets[row]) as usize;
        let len_b = (b_offsets[row + 1] - b_offsets[row]) as usize;
        let len = len_a.max(len_b);
        for i in 0..len {
            from_a.push((i < len_a).then(|| a_offsets[row] as u32 + i as u32));
            from_b.push((i < len_b).then(|| b_offsets[row] as u32 + i as u32));
            rows.push(row as u32);
        }
        lengths.push(len);
    }
    let rows = UInt32Array::from(rows);
    let xs = take(a.values(), &UInt32Array::from(from_a), None)?;
    let ys = take(b.values(), &UInt32Array::from(from_b), None)?;
    let output = run(lambda, &[xs, ys], &rows)?;
    let field = element(return_type)?;
    let output = cast(&output, field.data_type())?;
    let nulls = NullBuffer::from_iter((0..a.len()).map(|r| !a.is_null(r) && !b.is_null(r)));
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    list_from(field, &lengths, output, nulls)
}
