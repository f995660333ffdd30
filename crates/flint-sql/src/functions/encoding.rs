//! Spark's text and bytes conversions: `encode`/`decode` with a charset, `to_binary` and
//! `try_to_binary` (hex, base64, utf-8), `to_base32`/`from_base32`, and the UTF-8 checks
//! `validate_utf8` and `try_validate_utf8` (`is_valid_utf8` and `make_valid_utf8`
//! come from `datafusion-spark`).

use std::sync::Arc;

use base64::Engine;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;

use super::row::returns::{binary, string};
use super::row::{RowContext, RowFunction, arity, bytes, text};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("encode", text_and_charset, binary, encode).udf(),
        RowFunction::new("decode", bytes_and_charset, string, decode).udf(),
        RowFunction::new("to_binary", text_and_format, binary, to_binary).udf(),
        RowFunction::new("try_to_binary", text_and_format, binary, try_to_binary).udf(),
        RowFunction::new("base64", one_bytes, string, to_base64).udf(),
        RowFunction::new("unbase64", one_text, binary, unbase64).udf(),
        RowFunction::new("to_base32", one_bytes, string, to_base32).udf(),
        RowFunction::new("from_base32", one_text, binary, from_base32).udf(),
        RowFunction::new("validate_utf8", one_bytes, string, validate_utf8).udf(),
        RowFunction::new("try_validate_utf8", one_bytes, string, try_validate_utf8).udf(),
        RowFunction::new("hmac", hmac_types, binary, hmac).udf(),
        RowFunction::new("hash", any_types, |_| Ok(DataType::Int32), spark_hash)
            .lenient()
            .udf(),
    ]
}

/// Binary stays binary, anything else is read as text.
fn bytes_type(t: &DataType) -> DataType {
    match t {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::FixedSizeBinary(_) => DataType::Binary,
        _ => DataType::Utf8,
    }
}

fn text_and_charset(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("encode", types, 2, 2)?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

fn bytes_and_charset(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("decode", types, 2, 2)?;
    Ok(vec![DataType::Binary, DataType::Utf8])
}

fn text_and_format(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("to_binary", types, 1, 2)?;
    Ok(vec![DataType::Utf8; types.len()])
}

fn one_bytes(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("validate_utf8", types, 1, 1)?;
    Ok(vec![bytes_type(&types[0])])
}

fn one_text(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("from_base32", types, 1, 1)?;
    Ok(vec![DataType::Utf8])
}

/// The charsets Spark's `encode` and `decode` accept (`spark.sql.legacy.javaCharsets` off).
#[derive(Clone, Copy, PartialEq)]
enum Charset {
    Ascii,
    Latin1,
    Utf8,
    Utf16Be,
    Utf16Le,
    /// Java's `UTF-16`: big-endian with a byte-order mark when encoding.
    Utf16,
    Utf32,
}

fn charset(name: &str, function: &str) -> Result<Charset> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "US-ASCII" => Charset::Ascii,
        "ISO-8859-1" => Charset::Latin1,
        "UTF-8" => Charset::Utf8,
        "UTF-16BE" => Charset::Utf16Be,
        "UTF-16LE" => Charset::Utf16Le,
        "UTF-16" => Charset::Utf16,
        "UTF-32" => Charset::Utf32,
        _ => {
            return exec_err!(
                "[INVALID_PARAMETER_VALUE.CHARSET] The value of parameter(s) `charset` in \
                 `{function}` is invalid: expects one of the charsets 'US-ASCII', \
                 'ISO-8859-1', 'UTF-8', 'UTF-16BE', 'UTF-16LE', 'UTF-16', 'UTF-32', but got \
                 {name}."
            );
        }
    })
}

fn malformed(function: &str, charset: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[MALFORMED_CHARACTER_CODING] Invalid value found when performing `{function}` with \
         `{charset}`"
    ))
}

fn encode(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(value), Some(name)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Binary(None));
    };
    Ok(ScalarValue::Binary(Some(encode_text(
        value, name, "encode",
    )?)))
}

fn encode_text(value: &str, name: &str, function: &str) -> Result<Vec<u8>> {
    let limited = |max: u32| {
        value
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .ok()
                    .filter(|b| u32::from(*b) <= max)
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| malformed(function, name))
    };
    Ok(match charset(name, function)? {
        Charset::Ascii => limited(0x7f)?,
        Charset::Latin1 => limited(0xff)?,
        Charset::Utf8 => value.as_bytes().to_vec(),
        Charset::Utf16Be => value.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Charset::Utf16Le => value.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Charset::Utf16 => [0xfe, 0xff]
            .into_iter()
            .chain(value.encode_utf16().flat_map(u16::to_be_bytes))
            .collect(),
        Charset::Utf32 => value
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect(),
    })
}

fn decode(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(value), Some(name)) = (bytes(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Utf8(None));
    };
    Ok(ScalarValue::Utf8(Some(decode_bytes(
        value, name, "decode",
    )?)))
}

fn decode_bytes(value: &[u8], name: &str, function: &str) -> Result<String> {
    let utf16 = |units: Vec<u16>| String::from_utf16(&units).map_err(|_| malformed(function, name));
    let pairs = |big: bool| {
        if !value.len().is_multiple_of(2) {
            return Err(malformed(function, name));
        }
        Ok(value
            .chunks_exact(2)
            .map(|p| {
                if big {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    u16::from_le_bytes([p[0], p[1]])
                }
            })
            .collect::<Vec<u16>>())
    };
    match charset(name, function)? {
        Charset::Ascii if value.is_ascii() => Ok(value.iter().map(|b| char::from(*b)).collect()),
        Charset::Ascii => Err(malformed(function, name)),
        Charset::Latin1 => Ok(value.iter().map(|b| char::from(*b)).collect()),
        Charset::Utf8 => String::from_utf8(value.to_vec()).map_err(|_| malformed(function, name)),
        Charset::Utf16Be => utf16(pairs(true)?),
        Charset::Utf16Le => utf16(pairs(false)?),
        Charset::Utf16 => match value {
            [0xff, 0xfe, rest @ ..] => decode_bytes(rest, "UTF-16LE", function),
            [0xfe, 0xff, rest @ ..] => decode_bytes(rest, "UTF-16BE", function),
            _ => decode_bytes(value, "UTF-16BE", function),
        },
        Charset::Utf32 => {
            if !value.len().is_multiple_of(4) {
                return Err(malformed(function, name));
            }
            value
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .ok_or_else(|| malformed(function, name))
        }
    }
}

/// `to_binary(str[, fmt])`: `fmt` is `hex` (the default), `utf-8`/`utf8` or `base64`.
fn binary_of(args: &[ScalarValue]) -> Result<Option<Vec<u8>>> {
    let Some(value) = text(&args[0]) else {
        return Ok(None);
    };
    let format = match args.get(1) {
        Some(format) => match text(format) {
            Some(format) => format.to_ascii_lowercase(),
            None => return Ok(None),
        },
        None => "hex".to_string(),
    };
    let invalid = || {
        DataFusionError::Execution(format!(
            "[CONVERSION_INVALID_INPUT] The value '{value}' (STRING) cannot be converted to \
             BINARY because it is malformed. Correct the value as per the syntax, or change \
             its format. Use 'try_to_binary' to tolerate malformed input and return NULL \
             instead. SQLSTATE: 22018"
        ))
    };
    match format.as_str() {
        "hex" => unhex(value).map(Some).ok_or_else(invalid),
        "utf-8" | "utf8" => Ok(Some(value.as_bytes().to_vec())),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(value.trim_end_matches('\n'))
            .map(Some)
            .map_err(|_| invalid()),
        other => exec_err!(
            "[INVALID_PARAMETER_VALUE.BINARY_FORMAT] The value of parameter(s) `format` in \
             `to_binary` is invalid: expects one of binary formats 'base64', 'hex', 'utf-8', \
             but got '{other}'. SQLSTATE: 22023"
        ),
    }
}

/// Spark's `unhex`: hex digits two by two, an odd first digit standing alone.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()?;
    let (first, rest) = if digits.len() % 2 == 1 {
        (Some(digits[0]), &digits[1..])
    } else {
        (None, &digits[..])
    };
    Some(
        first
            .into_iter()
            .chain(rest.chunks_exact(2).map(|p| p[0] << 4 | p[1]))
            .collect(),
    )
}

fn to_binary(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Binary(binary_of(args)?))
}

fn try_to_binary(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Binary(binary_of(args).ok().flatten()))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `base64(bin)`: padded base64 on one line (Spark's `spark.sql.chunkBase64String.enabled`
/// is off by default). Flint's own, because `datafusion-spark`'s rewrites itself into
/// DataFusion's `encode`, a name Flint gives to Spark's charset `encode`.
fn to_base64(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Utf8(bytes(&args[0]).map(|value| {
        base64::engine::general_purpose::STANDARD.encode(value)
    })))
}

/// `unbase64(str)`: leniently, as Java's MIME decoder: characters outside the base64
/// alphabet (line breaks, spaces) are skipped and the padding may be missing.
fn unbase64(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some(value) = text(&args[0]) else {
        return Ok(ScalarValue::Binary(None));
    };
    let symbols: String = value
        .chars()
        .take_while(|c| *c != '=')
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/'))
        .collect();
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    match lenient.decode(&symbols) {
        Ok(decoded) => Ok(ScalarValue::Binary(Some(decoded))),
        Err(_) => exec_err!(
            "[CONVERSION_INVALID_INPUT] The value '{value}' (STRING) cannot be converted to \
             BINARY because it is malformed. Use 'try_to_binary' with 'base64' to tolerate \
             malformed input and return NULL instead. SQLSTATE: 22018"
        ),
    }
}

fn to_base32(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some(value) = bytes(&args[0]) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let mut out = String::with_capacity(value.len().div_ceil(5) * 8);
    for chunk in value.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                out.push(char::from(BASE32[(bits >> (35 - 5 * i) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    Ok(ScalarValue::Utf8(Some(out)))
}

fn from_base32(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some(value) = text(&args[0]) else {
        return Ok(ScalarValue::Binary(None));
    };
    let mut out = Vec::with_capacity(value.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in value.trim_end_matches('=').bytes() {
        let Some(symbol) = BASE32.iter().position(|b| *b == c.to_ascii_uppercase()) else {
            return exec_err!(
                "[CONVERSION_INVALID_INPUT] The value '{value}' (STRING) cannot be converted to \
                 BINARY because it is malformed. SQLSTATE: 22018"
            );
        };
        buffer = buffer << 5 | symbol as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(ScalarValue::Binary(Some(out)))
}

fn validate_utf8(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let value = bytes(&args[0]).unwrap_or_default();
    match std::str::from_utf8(value) {
        Ok(text) => Ok(ScalarValue::Utf8(Some(text.to_string()))),
        Err(_) => plan_err!(
            "[INVALID_UTF8_STRING] Invalid UTF8 byte sequence found in string: {}",
            value
                .iter()
                .map(|b| format!("\\x{b:02X}"))
                .collect::<String>()
        ),
    }
}

fn try_validate_utf8(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let value = bytes(&args[0]).unwrap_or_default();
    Ok(ScalarValue::Utf8(
        std::str::from_utf8(value).ok().map(str::to_string),
    ))
}

/// Text as bytes in `charset` (shared with `to_char(binary, fmt)`).
pub(crate) fn bytes_to_text(value: &[u8], format: &str) -> Result<String> {
    match format.to_ascii_lowercase().as_str() {
        "hex" => Ok(value.iter().map(|b| format!("{b:02X}")).collect()),
        "base64" => Ok(base64::engine::general_purpose::STANDARD.encode(value)),
        "utf-8" | "utf8" => decode_bytes(value, "UTF-8", "to_char"),
        other => exec_err!(
            "[INVALID_PARAMETER_VALUE.BINARY_FORMAT] The value of parameter(s) `format` in \
             `to_char` is invalid: expects one of binary formats 'base64', 'hex', 'utf-8', but \
             got '{other}'. SQLSTATE: 22023"
        ),
    }
}

/// `hmac(key, message[, algorithm])`: the HMAC (RFC 2104) of `message` with `key`, with
/// SHA-224, SHA-256 (the default), SHA-384 or SHA-512.
fn hmac(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    use sha2::Digest;
    let (Some(key), Some(message)) = (bytes(&args[0]), bytes(&args[1])) else {
        return Ok(ScalarValue::Binary(None));
    };
    let algorithm = args.get(2).and_then(text).unwrap_or("SHA-256");
    fn mac<D: Digest>(key: &[u8], message: &[u8], block: usize) -> Vec<u8> {
        let mut key = if key.len() > block {
            D::digest(key).to_vec()
        } else {
            key.to_vec()
        };
        key.resize(block, 0);
        let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
        let mut inner = D::new();
        inner.update(pad(0x36));
        inner.update(message);
        let mut outer = D::new();
        outer.update(pad(0x5c));
        outer.update(inner.finalize());
        outer.finalize().to_vec()
    }
    let digest = match algorithm.to_ascii_uppercase().replace('-', "").as_str() {
        "SHA224" => mac::<sha2::Sha224>(key, message, 64),
        "SHA256" => mac::<sha2::Sha256>(key, message, 64),
        "SHA384" => mac::<sha2::Sha384>(key, message, 128),
        "SHA512" => mac::<sha2::Sha512>(key, message, 128),
        other => {
            return exec_err!(
                "[INVALID_PARAMETER_VALUE.HMAC_ALGORITHM] The value of parameter(s) `algorithm` \
                 in `hmac` is invalid: expects one of SHA-224, SHA-256, SHA-384, SHA-512, but \
                 got {other}."
            );
        }
    };
    Ok(ScalarValue::Binary(Some(digest)))
}

fn hmac_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("hmac", types, 2, 3)?;
    let mut out = vec![bytes_type(&types[0]), bytes_type(&types[1])];
    out.extend(types.get(2).map(|_| DataType::Utf8));
    Ok(out)
}

/// Spark's `hash(expr, ...)`: Murmur3 (x86, 32-bit) of every argument in turn, each hash
/// seeding the next, starting from 42; NULLs leave the hash as it is.
fn spark_hash(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let mut hash = 42u32;
    for value in args {
        let array = value.to_array()?;
        hash = murmur3::hash_value(&array, 0, hash)?;
    }
    Ok(ScalarValue::Int32(Some(hash as i32)))
}

fn any_types(types: &[DataType]) -> Result<Vec<DataType>> {
    if types.is_empty() {
        return datafusion::common::plan_err!(
            "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `hash` requires at least 1 parameter."
        );
    }
    Ok(types.to_vec())
}

/// Spark's `Murmur3_x86_32`, including its way of hashing the bytes after the last whole
/// 4-byte word (each on its own, as a signed int).
mod murmur3 {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray};
    use datafusion::arrow::datatypes::{DataType, *};
    use datafusion::common::{Result, ScalarValue, exec_err};

    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;

    fn mix_k1(k1: u32) -> u32 {
        k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
    }

    fn mix_h1(h1: u32, k1: u32) -> u32 {
        (h1 ^ k1)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64)
    }

    fn fmix(mut h1: u32, length: u32) -> u32 {
        h1 ^= length;
        h1 ^= h1 >> 16;
        h1 = h1.wrapping_mul(0x85eb_ca6b);
        h1 ^= h1 >> 13;
        h1 = h1.wrapping_mul(0xc2b2_ae35);
        h1 ^ (h1 >> 16)
    }

    pub(super) fn hash_int(input: i32, seed: u32) -> u32 {
        fmix(mix_h1(seed, mix_k1(input as u32)), 4)
    }

    pub(super) fn hash_long(input: i64, seed: u32) -> u32 {
        let low = input as u32;
        let high = ((input as u64) >> 32) as u32;
        let h1 = mix_h1(seed, mix_k1(low));
        fmix(mix_h1(h1, mix_k1(high)), 8)
    }

    pub(super) fn hash_bytes(bytes: &[u8], seed: u32) -> u32 {
        let aligned = bytes.len() - bytes.len() % 4;
        let mut h1 = seed;
        for word in bytes[..aligned].chunks_exact(4) {
            h1 = mix_h1(
                h1,
                mix_k1(u32::from_le_bytes([word[0], word[1], word[2], word[3]])),
            );
        }
        for byte in &bytes[aligned..] {
            h1 = mix_h1(h1, mix_k1(i32::from(*byte as i8) as u32));
        }
        fmix(h1, bytes.len() as u32)
    }

    /// The hash of row `row` of `array`, seeded with `seed`.
    pub(super) fn hash_value(array: &ArrayRef, row: usize, seed: u32) -> Result<u32> {
        if array.is_null(row) {
            return Ok(seed);
        }
        Ok(match array.data_type() {
            DataType::Null => seed,
            DataType::Boolean => hash_int(i32::from(array.as_boolean().value(row)), seed),
            DataType::Int8 => {
                hash_int(i32::from(array.as_primitive::<Int8Type>().value(row)), seed)
            }
            DataType::Int16 => hash_int(
                i32::from(array.as_primitive::<Int16Type>().value(row)),
                seed,
            ),
            DataType::Int32 => hash_int(array.as_primitive::<Int32Type>().value(row), seed),
            DataType::Date32 => hash_int(array.as_primitive::<Date32Type>().value(row), seed),
            DataType::Int64 => hash_long(array.as_primitive::<Int64Type>().value(row), seed),
            DataType::Float32 => {
                let v = array.as_primitive::<Float32Type>().value(row);
                let v = if v == 0.0 { 0.0f32 } else { v };
                let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() };
                hash_int(bits as i32, seed)
            }
            DataType::Float64 => {
                let v = array.as_primitive::<Float64Type>().value(row);
                let v = if v == 0.0 { 0.0f64 } else { v };
                let bits = if v.is_nan() {
                    0x7ff8_0000_0000_0000
                } else {
                    v.to_bits()
                };
                hash_long(bits as i64, seed)
            }
            DataType::Decimal128(precision, _) => {
                let v = array.as_primitive::<Decimal128Type>().value(row);
                if *precision <= 18 {
                    hash_long(v as i64, seed)
                } else {
                    // Java's BigInteger.toByteArray: minimal big-endian two's complement.
                    let bytes = v.to_be_bytes();
                    let mut start = 0;
                    while start < 15
                        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
                            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
                    {
                        start += 1;
                    }
                    hash_bytes(&bytes[start..], seed)
                }
            }
            DataType::Timestamp(..) => {
                let micros = ScalarValue::try_from_array(array, row)?
                    .cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None))?;
                match micros {
                    ScalarValue::TimestampMicrosecond(Some(v), _) => hash_long(v, seed),
                    _ => seed,
                }
            }
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView => {
                let value = ScalarValue::try_from_array(array, row)?;
                hash_bytes(super::bytes(&value).unwrap_or_default(), seed)
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                let items = match ScalarValue::try_from_array(array, row)? {
                    ScalarValue::List(l) => l.value(0),
                    ScalarValue::LargeList(l) => l.value(0),
                    ScalarValue::FixedSizeList(l) => l.value(0),
                    _ => return Ok(seed),
                };
                let mut hash = seed;
                for i in 0..items.len() {
                    hash = hash_value(&items, i, hash)?;
                }
                hash
            }
            DataType::Struct(_) => {
                let parts = array.as_struct();
                let mut hash = seed;
                for column in parts.columns() {
                    hash = hash_value(column, row, hash)?;
                }
                hash
            }
            DataType::Map(..) => {
                let entries = array.as_map().value(row);
                let mut hash = seed;
                for i in 0..entries.len() {
                    hash = hash_value(entries.column(0), i, hash)?;
                    hash = hash_value(entries.column(1), i, hash)?;
                }
                hash
            }
            other => return exec_err!("hash: cannot hash a value of type {other}"),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn matches_sparks_murmur3() {
            // Spark's `hash(1)`; the SQL suite checks `hash('Spark', array(123), 2)`, whose
            // string ends in a byte after its last whole word.
            assert_eq!(hash_int(1, 42) as i32, -559580957);
        }
    }
}
