//! `LIKE` patterns of several literal parts between `%`s (`'%special%requests%'`, TPC-H q13),
//! matched by searching for each part after the previous one. Arrow's `LIKE` has fast paths
//! for `abc`, `abc%`, `%abc` and `%abc%` only and runs every other pattern as a regular
//! expression; [`segmented_like`] plans these instead (the analyzer picks them, see
//! [`like_parts`]), with the same answers.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use memchr::memmem::Finder;

/// The internal name of the function [`segmented_like`] calls.
const NAME: &str = "flint_like_parts";

/// `text LIKE pattern` as a call of the part-by-part matcher when `pattern` is a literal
/// [`like_parts`] accepts; `None` leaves it to Arrow.
pub(crate) fn segmented_like(text: Expr, pattern: &str) -> Option<Expr> {
    like_parts(pattern)?;
    Some(Expr::ScalarFunction(ScalarFunction::new_udf(
        udf(),
        vec![text, lit(pattern)],
    )))
}

/// The literal parts of a case-sensitive `LIKE` pattern that starts with `%`, has no `_` or
/// escapes, and has at least two non-empty parts (the shapes Arrow would run as a regular
/// expression and that carry no prefix for pruning): the parts between `%`s, in order, and
/// the last part when the pattern does not end with `%` (the text must end with it).
fn like_parts(pattern: &str) -> Option<(Vec<&str>, Option<&str>)> {
    if !pattern.starts_with('%') || pattern.contains(['_', '\\']) {
        return None;
    }
    let mut parts: Vec<&str> = pattern.split('%').filter(|p| !p.is_empty()).collect();
    if parts.len() < 2 {
        return None;
    }
    let suffix = if pattern.ends_with('%') {
        None
    } else {
        parts.pop()
    };
    Some((parts, suffix))
}

/// The function [`segmented_like`] calls, registered so executors decode it.
pub(crate) fn udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(LikeParts {
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LikeParts {
    signature: Signature,
}

/// A compiled pattern: each part is searched after the end of the previous one's first match
/// (the leftmost match leaves the most room for the rest), and the suffix must end the text
/// after all of them.
struct Matcher<'a> {
    parts: Vec<Finder<'a>>,
    suffix: Option<&'a str>,
}

impl Matcher<'_> {
    fn matches(&self, text: &str) -> bool {
        let text = text.as_bytes();
        let end = match self.suffix {
            Some(suffix) if text.ends_with(suffix.as_bytes()) => text.len() - suffix.len(),
            Some(_) => return false,
            None => text.len(),
        };
        let mut start = 0;
        for part in &self.parts {
            match part.find(&text[start..end]) {
                Some(at) => start += at + part.needle().len(),
                None => return false,
            }
        }
        true
    }
}

impl ScalarUDFImpl for LikeParts {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let pattern = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(pattern))) => pattern.as_str(),
            _ => return exec_err!("{NAME} needs a literal pattern"),
        };
        let Some((parts, suffix)) = like_parts(pattern) else {
            return exec_err!("{NAME} cannot match the pattern '{pattern}'");
        };
        let matcher = Matcher {
            parts: parts.into_iter().map(Finder::new).collect(),
            suffix,
        };
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let text = args.args[0].to_array(args.number_rows)?;
        let out: BooleanArray = match text.data_type() {
            DataType::Utf8View => text
                .as_string_view()
                .iter()
                .map(|t| t.map(|t| matcher.matches(t)))
                .collect(),
            DataType::Utf8 => text
                .as_string::<i32>()
                .iter()
                .map(|t| t.map(|t| matcher.matches(t)))
                .collect(),
            DataType::LargeUtf8 => text
                .as_string::<i64>()
                .iter()
                .map(|t| t.map(|t| matcher.matches(t)))
                .collect(),
            // Other encodings of text (a dictionary, say a partition column) as plain text.
            _ => {
                let text = datafusion::arrow::compute::cast(&text, &DataType::Utf8)?;
                text.as_string::<i32>()
                    .iter()
                    .map(|t| t.map(|t| matcher.matches(t)))
                    .collect()
            }
        };
        let out: ArrayRef = Arc::new(out);
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(text: &str, pattern: &str) -> bool {
        let (parts, suffix) = like_parts(pattern).expect("a pattern of parts");
        Matcher {
            parts: parts.into_iter().map(Finder::new).collect(),
            suffix,
        }
        .matches(text)
    }

    #[test]
    fn parts_match_in_order_as_like_does() {
        assert!(like("no special foo requests", "%special%requests%"));
        assert!(like("specialrequests", "%special%requests%"));
        assert!(!like("requests special", "%special%requests%"));
        assert!(!like("special", "%special%requests%"));
        // Overlapping parts: each must follow the previous one's match.
        assert!(!like("abc", "%ab%bc%"));
        assert!(like("abbc", "%ab%bc%"));
        // A suffix is anchored at the end and may not reuse a part's text.
        assert!(like("xx Customer yy Complaints", "%Customer%Complaints"));
        assert!(!like("Customer Complaints!", "%Customer%Complaints"));
        assert!(!like("Complaints", "%Complaints%Complaints"));
        assert!(like("ComplaintsComplaints", "%Complaints%Complaints"));
        assert!(like("é1€2", "%é%€%"));
    }

    #[test]
    fn dictionary_text_is_matched_too() {
        use datafusion::arrow::array::DictionaryArray;
        use datafusion::arrow::datatypes::{Field, Int32Type};
        use datafusion::config::ConfigOptions;
        let text: DictionaryArray<Int32Type> =
            vec![Some("a special x requests"), None, Some("plain")]
                .into_iter()
                .collect();
        let text: ArrayRef = Arc::new(text);
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Array(Arc::clone(&text)),
                ColumnarValue::Scalar(ScalarValue::Utf8(Some("%special%requests%".into()))),
            ],
            arg_fields: vec![
                Arc::new(Field::new("t", text.data_type().clone(), true)),
                Arc::new(Field::new("p", DataType::Utf8, false)),
            ],
            number_rows: 3,
            return_field: Arc::new(Field::new("r", DataType::Boolean, true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        let ColumnarValue::Array(out) = udf().invoke_with_args(args).unwrap() else {
            panic!("an array");
        };
        let expected: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
        assert_eq!(&out, &expected);
    }

    #[test]
    fn other_shapes_stay_with_arrow() {
        for pattern in [
            "%abc%",
            "abc%",
            "%abc",
            "a%b%c",
            "%a_b%c%",
            "%a\\%b%c%",
            "%%a%%",
        ] {
            assert!(like_parts(pattern).is_none(), "{pattern}");
        }
    }
}
