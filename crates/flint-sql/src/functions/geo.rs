//! Spark's GEOMETRY and GEOGRAPHY values and the `st_` functions on them:
//! `st_geomfromwkb`, `st_geogfromwkb`, `st_asbinary` (little- or big-endian WKB),
//! `st_srid`, `st_setsrid`. A value is `struct<srid: int, geometry|geography: binary>`
//! holding its Well-Known Binary, checked when it is read.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::scalar::ScalarStructBuilder;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;

use super::row::{RowContext, RowFunction, arity, bytes, integer, text};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new(
            "st_geomfromwkb",
            from_types,
            |_| Ok(geo_type(false)),
            |a, _| from_wkb(a, false),
        )
        .udf(),
        RowFunction::new(
            "st_geogfromwkb",
            from_types,
            |_| Ok(geo_type(true)),
            |a, _| from_wkb(a, true),
        )
        .udf(),
        RowFunction::new(
            "st_asbinary",
            as_binary_types,
            |_| Ok(DataType::Binary),
            as_binary,
        )
        .udf(),
        RowFunction::new("st_srid", one_geo, |_| Ok(DataType::Int32), srid).udf(),
        RowFunction::new("st_setsrid", set_srid_types, |t| Ok(t[0].clone()), set_srid).udf(),
    ]
}

/// The Arrow type of a GEOGRAPHY (`true`) or GEOMETRY value.
fn geo_type(geography: bool) -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("srid", DataType::Int32, false),
        Field::new(
            if geography { "geography" } else { "geometry" },
            DataType::Binary,
            false,
        ),
    ]))
}

/// Whether `data_type` is a GEOGRAPHY (`Some(true)`) or GEOMETRY (`Some(false)`).
pub(crate) fn geo_kind(data_type: &DataType) -> Option<bool> {
    match data_type {
        DataType::Struct(fields)
            if fields.len() == 2
                && fields[0].name() == "srid"
                && fields[1].data_type() == &DataType::Binary =>
        {
            match fields[1].name().as_str() {
                "geography" => Some(true),
                "geometry" => Some(false),
                _ => None,
            }
        }
        _ => None,
    }
}

fn from_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("st_geomfromwkb", types, 1, 2)?;
    let mut out = vec![DataType::Binary];
    out.extend(types.get(1).map(|_| DataType::Int32));
    Ok(out)
}

fn one_geo(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("st_srid", types, 1, 1)?;
    geo_argument(&types[0]).map(|t| vec![t])
}

fn geo_argument(t: &DataType) -> Result<DataType> {
    match (geo_kind(t), t) {
        (Some(_), t) => Ok(t.clone()),
        (None, DataType::Null) => Ok(geo_type(false)),
        (None, other) => plan_err!(
            "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] expects a GEOMETRY or GEOGRAPHY, got {other}"
        ),
    }
}

fn as_binary_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("st_asbinary", types, 1, 2)?;
    let mut out = vec![geo_argument(&types[0])?];
    out.extend(types.get(1).map(|_| DataType::Utf8));
    Ok(out)
}

fn set_srid_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("st_setsrid", types, 2, 2)?;
    Ok(vec![geo_argument(&types[0])?, DataType::Int32])
}

fn invalid_wkb() -> DataFusionError {
    DataFusionError::Execution(
        "[WKB_PARSE_ERROR] Error parsing WKB: the value is not valid Well-Known Binary.".into(),
    )
}

/// Rewrites the WKB geometry at `at` in `little` (or big) endian order into `out`;
/// returns where it ended.
fn rewrite(wkb: &[u8], at: usize, little: bool, out: &mut Vec<u8>, depth: usize) -> Result<usize> {
    if depth > 64 {
        return Err(invalid_wkb());
    }
    let source_little = match wkb.get(at) {
        Some(1) => true,
        Some(0) => false,
        _ => return Err(invalid_wkb()),
    };
    let read_u32 = |at: usize| -> Result<u32> {
        let raw: [u8; 4] = wkb
            .get(at..at + 4)
            .ok_or_else(invalid_wkb)?
            .try_into()
            .map_err(|_| invalid_wkb())?;
        Ok(if source_little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    };
    let write_u32 = |out: &mut Vec<u8>, v: u32| {
        out.extend(if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        })
    };
    let code = read_u32(at + 1)?;
    out.push(u8::from(little));
    write_u32(out, code);
    // ISO codes: 1000s add Z, 2000s M, 3000s both.
    let (kind, dims) = match code / 1000 {
        0 => (code, 2),
        1 | 2 => (code % 1000, 3),
        3 => (code % 1000, 4),
        _ => return Err(invalid_wkb()),
    };
    let mut at = at + 5;
    let copy_doubles = |out: &mut Vec<u8>, at: &mut usize, count: usize| -> Result<()> {
        for _ in 0..count {
            let raw: [u8; 8] = wkb
                .get(*at..*at + 8)
                .ok_or_else(invalid_wkb)?
                .try_into()
                .map_err(|_| invalid_wkb())?;
            let v = if source_little {
                f64::from_le_bytes(raw)
            } else {
                f64::from_be_bytes(raw)
            };
            out.extend(if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            });
            *at += 8;
        }
        Ok(())
    };
    match kind {
        1 => copy_doubles(out, &mut at, dims)?,
        2 => {
            let points = read_u32(at)? as usize;
            write_u32(out, points as u32);
            at += 4;
            copy_doubles(out, &mut at, points * dims)?;
        }
        3 => {
            let rings = read_u32(at)? as usize;
            write_u32(out, rings as u32);
            at += 4;
            for _ in 0..rings {
                let points = read_u32(at)? as usize;
                write_u32(out, points as u32);
                at += 4;
                copy_doubles(out, &mut at, points * dims)?;
            }
        }
        4..=7 => {
            let parts = read_u32(at)? as usize;
            write_u32(out, parts as u32);
            at += 4;
            for _ in 0..parts {
                at = rewrite(wkb, at, little, out, depth + 1)?;
            }
        }
        _ => return Err(invalid_wkb()),
    }
    Ok(at)
}

/// `wkb` in `little` (or big) endian order, checked to be one whole geometry.
fn normalized(wkb: &[u8], little: bool) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(wkb.len());
    let end = rewrite(wkb, 0, little, &mut out, 0)?;
    if end != wkb.len() {
        return Err(invalid_wkb());
    }
    Ok(out)
}

fn geo_value(srid: i32, wkb: Vec<u8>, geography: bool) -> Result<ScalarValue> {
    let DataType::Struct(fields) = geo_type(geography) else {
        return exec_err!("not a struct");
    };
    ScalarStructBuilder::new()
        .with_scalar(Arc::clone(&fields[0]), ScalarValue::Int32(Some(srid)))
        .with_scalar(Arc::clone(&fields[1]), ScalarValue::Binary(Some(wkb)))
        .build()
}

fn from_wkb(args: &[ScalarValue], geography: bool) -> Result<ScalarValue> {
    let Some(wkb) = bytes(&args[0]) else {
        return ScalarValue::try_from(geo_type(geography));
    };
    let srid = if geography {
        4326
    } else {
        args.get(1).and_then(integer).unwrap_or(0) as i32
    };
    // Checked, kept as given.
    normalized(wkb, true)?;
    geo_value(srid, wkb.to_vec(), geography)
}

/// A geometry or geography value's SRID, WKB and kind.
fn parts(value: &ScalarValue) -> Result<(i32, Vec<u8>, bool)> {
    let ScalarValue::Struct(row) = value else {
        return exec_err!("not a GEOMETRY or GEOGRAPHY value");
    };
    let geography = geo_kind(row.data_type()) == Some(true);
    let srid = ScalarValue::try_from_array(row.column(0), 0)?;
    let wkb = ScalarValue::try_from_array(row.column(1), 0)?;
    Ok((
        integer(&srid).unwrap_or(0) as i32,
        bytes(&wkb).map(<[u8]>::to_vec).unwrap_or_default(),
        geography,
    ))
}

fn as_binary(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (_, wkb, _) = parts(&args[0])?;
    let little = match args.get(1).and_then(text) {
        None => true,
        Some(order) if order.eq_ignore_ascii_case("NDR") => true,
        Some(order) if order.eq_ignore_ascii_case("XDR") => false,
        Some(other) => {
            return exec_err!(
                "[INVALID_PARAMETER_VALUE.WKB_ENDIANNESS] The value of parameter(s) \
                 `endianness` in `st_asbinary` is invalid: expects 'NDR' or 'XDR', got '{other}'."
            );
        }
    };
    Ok(ScalarValue::Binary(Some(normalized(&wkb, little)?)))
}

fn srid(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Int32(Some(parts(&args[0])?.0)))
}

fn set_srid(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (_, wkb, geography) = parts(&args[0])?;
    let Some(srid) = integer(&args[1]) else {
        return ScalarValue::try_from(geo_type(geography));
    };
    geo_value(srid as i32, wkb, geography)
}
