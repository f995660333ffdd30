//! Spark's XML functions: the `xpath` family (`xpath`, `xpath_string`, `xpath_boolean`,
//! `xpath_number`/`double`/`float`/`int`/`long`/`short`), `from_xml` (a DDL schema) and
//! `schema_of_xml`.
//!
//! XPath support covers location paths of child steps (`a/b`, `/a/b`, `*`, `text()`,
//! `@attr`, `[n]`, `//b` for descendants) and the functions `sum`, `count`, `string`
//! and `boolean` around one path; other XPath expressions are an error naming them.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::ScalarUDF;

use super::json::{
    Json, from_json_type_of_schema, from_json_types, json_value_with, option, options, schema_sql,
};
use super::row::{RowContext, RowFunction, arity, text};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    let number = |name: &'static str, t: DataType, eval| {
        let returns = match t {
            DataType::Float64 => |_: &[DataType]| Ok(DataType::Float64),
            DataType::Float32 => |_: &[DataType]| Ok(DataType::Float32),
            DataType::Int32 => |_: &[DataType]| Ok(DataType::Int32),
            DataType::Int16 => |_: &[DataType]| Ok(DataType::Int16),
            _ => |_: &[DataType]| Ok(DataType::Int64),
        };
        RowFunction::new(name, two_texts, returns, eval).udf()
    };
    vec![
        RowFunction::new("xpath", two_texts, |_| Ok(strings()), xpath).udf(),
        RowFunction::new(
            "xpath_string",
            two_texts,
            |_| Ok(DataType::Utf8),
            xpath_string,
        )
        .udf(),
        RowFunction::new(
            "xpath_boolean",
            two_texts,
            |_| Ok(DataType::Boolean),
            xpath_boolean,
        )
        .udf(),
        number("xpath_number", DataType::Float64, xpath_number),
        number("xpath_double", DataType::Float64, xpath_number),
        number("xpath_float", DataType::Float32, xpath_number),
        number("xpath_int", DataType::Int32, xpath_number),
        number("xpath_long", DataType::Int64, xpath_number),
        number("xpath_short", DataType::Int16, xpath_number),
        RowFunction::new(
            "from_xml",
            from_json_types,
            |_| Ok(DataType::Utf8),
            from_xml,
        )
        .returns_from_literals(from_json_type_of_schema)
        .udf(),
        RowFunction::new(
            "schema_of_xml",
            schema_types,
            |_| Ok(DataType::Utf8),
            schema_of_xml,
        )
        .udf(),
    ]
}

fn strings() -> DataType {
    DataType::List(Arc::new(
        datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
    ))
}

fn two_texts(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("xpath", types, 2, 2)?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

fn schema_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("schema_of_xml", types, 1, 2)?;
    let mut out = vec![DataType::Utf8];
    out.extend(types.get(1).cloned());
    Ok(out)
}

/// An XML element.
#[derive(Debug, Clone)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    /// The concatenated text of the element and its descendants (XPath's string value).
    fn text(&self) -> String {
        let mut out = String::new();
        for child in &self.children {
            match child {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => out.push_str(&e.text()),
            }
        }
        out
    }

    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }
}

fn malformed(xml: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[INVALID_XML] Invalid XML: the document could not be parsed: {}",
        xml.chars().take(80).collect::<String>()
    ))
}

/// Parses a document into its root element.
fn parse(xml: &str) -> Result<Element> {
    let mut parser = XmlParser { text: xml, at: 0 };
    parser.skip_prolog();
    let root = parser.element(0).ok_or_else(|| malformed(xml))?;
    parser.skip_misc();
    if parser.at < xml.len() {
        return Err(malformed(xml));
    }
    Ok(root)
}

struct XmlParser<'a> {
    text: &'a str,
    at: usize,
}

impl XmlParser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// Skips whitespace, comments and processing instructions.
    fn skip_misc(&mut self) {
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            let end = if rest.starts_with("<!--") {
                rest.find("-->").map(|i| i + 3)
            } else if rest.starts_with("<?") {
                rest.find("?>").map(|i| i + 2)
            } else {
                None
            };
            match end {
                Some(end) => self.at += end,
                None => return,
            }
        }
    }

    fn skip_prolog(&mut self) {
        self.skip_misc();
        if self.rest().starts_with("<!DOCTYPE") {
            if let Some(end) = self.rest().find('>') {
                self.at += end + 1;
            }
            self.skip_misc();
        }
    }

    fn name(&mut self) -> Option<String> {
        let rest = self.rest();
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '/' | '='))
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        let name = rest[..end].to_string();
        self.at += end;
        Some(name)
    }

    fn element(&mut self, depth: usize) -> Option<Element> {
        if depth > 500 || !self.rest().starts_with('<') {
            return None;
        }
        self.at += 1;
        let name = self.name()?;
        let mut attributes = Vec::new();
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            if let Some(after) = rest.strip_prefix("/>") {
                let _ = after;
                self.at += 2;
                return Some(Element {
                    name,
                    attributes,
                    children: Vec::new(),
                });
            }
            if rest.starts_with('>') {
                self.at += 1;
                break;
            }
            let attribute = self.name()?;
            self.skip_whitespace();
            if !self.rest().starts_with('=') {
                return None;
            }
            self.at += 1;
            self.skip_whitespace();
            let quote = self.rest().chars().next()?;
            if quote != '"' && quote != '\'' {
                return None;
            }
            self.at += 1;
            let end = self.rest().find(quote)?;
            let value = unescape(&self.rest()[..end]);
            self.at += end + 1;
            attributes.push((attribute, value));
        }
        let mut children = Vec::new();
        loop {
            let rest = self.rest();
            if rest.starts_with("</") {
                self.at += 2;
                let closing = self.name()?;
                self.skip_whitespace();
                if closing != name || !self.rest().starts_with('>') {
                    return None;
                }
                self.at += 1;
                return Some(Element {
                    name,
                    attributes,
                    children,
                });
            }
            if rest.starts_with("<!--") {
                self.at += rest.find("-->")? + 3;
            } else if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
                let end = cdata.find("]]>")?;
                children.push(Node::Text(cdata[..end].to_string()));
                self.at += 9 + end + 3;
            } else if rest.starts_with("<?") {
                self.at += rest.find("?>")? + 2;
            } else if rest.starts_with('<') {
                children.push(Node::Element(self.element(depth + 1)?));
            } else {
                let end = rest.find('<')?;
                children.push(Node::Text(unescape(&rest[..end])));
                self.at += end;
            }
        }
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let entity = &after[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&after[..=end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// One item an XPath step selects.
#[derive(Debug, Clone)]
enum Item<'a> {
    Element(&'a Element),
    Text(String),
    Attribute(String),
}

impl Item<'_> {
    /// XPath's string value.
    fn string(&self) -> String {
        match self {
            Item::Element(e) => e.text(),
            Item::Text(t) | Item::Attribute(t) => t.clone(),
        }
    }
}

/// An XPath expression Flint evaluates: a location path, maybe inside a function.
enum XPath {
    Path(String),
    Sum(String),
    Count(String),
    String(String),
    Boolean(String),
}

fn xpath_expression(path: &str) -> Result<XPath> {
    let path = path.trim();
    for (name, make) in [
        ("sum", XPath::Sum as fn(String) -> XPath),
        ("count", XPath::Count),
        ("string", XPath::String),
        ("boolean", XPath::Boolean),
    ] {
        if let Some(inner) = path
            .strip_prefix(name)
            .map(str::trim_start)
            .and_then(|p| p.strip_prefix('('))
            .and_then(|p| p.strip_suffix(')'))
        {
            return Ok(make(inner.trim().to_string()));
        }
    }
    if path.is_empty() || path.contains(['(', '=', '<', '>', '|', '+']) && !path.contains("text()")
    {
        return exec_err!(
            "[INVALID_XPATH] Flint does not evaluate the XPath expression '{path}': only \
             location paths and sum, count, string, boolean of one are supported."
        );
    }
    Ok(XPath::Path(path.to_string()))
}

/// The items a location path selects from the document whose root is `root`.
fn select<'a>(root: &'a Element, path: &str) -> Result<Vec<Item<'a>>> {
    let (mut descendants_next, path) = match path.strip_prefix("//") {
        Some(rest) => (true, rest),
        None => (false, path.strip_prefix('/').unwrap_or(path)),
    };
    // The document node's only child is the root element.
    let mut current: Vec<Item<'a>> = Vec::new();
    let mut at_document = true;
    let steps: Vec<&str> = path.split('/').collect();
    for (i, step) in steps.iter().enumerate() {
        if step.is_empty() {
            if i + 1 < steps.len() {
                descendants_next = true;
            }
            continue;
        }
        let (test, position) = match step.find('[') {
            Some(open) => {
                let index = step[open + 1..]
                    .strip_suffix(']')
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .ok_or_else(|| {
                        DataFusionError::Execution(format!(
                            "[INVALID_XPATH] Flint does not evaluate the XPath predicate in '{step}'"
                        ))
                    })?;
                (&step[..open], Some(index))
            }
            None => (*step, None),
        };
        let contexts: Vec<&Element> = if at_document {
            vec![]
        } else {
            current
                .iter()
                .filter_map(|item| match item {
                    Item::Element(e) => Some(*e),
                    _ => None,
                })
                .collect()
        };
        let mut candidates: Vec<&'a Element> = Vec::new();
        let mut next: Vec<Item<'a>> = Vec::new();
        let children_of = |e: &'a Element, deep: bool, out: &mut Vec<&'a Element>| {
            fn walk<'b>(e: &'b Element, out: &mut Vec<&'b Element>) {
                for child in e.elements() {
                    out.push(child);
                    walk(child, out);
                }
            }
            if deep {
                walk(e, out);
            } else {
                out.extend(e.elements());
            }
        };
        if at_document {
            candidates.push(root);
            if descendants_next {
                children_of(root, true, &mut candidates);
            }
        } else {
            for e in &contexts {
                children_of(e, descendants_next, &mut candidates);
            }
        }
        match test {
            "text()" => {
                for e in &contexts {
                    for child in &e.children {
                        if let Node::Text(t) = child {
                            next.push(Item::Text(t.clone()));
                        }
                    }
                }
            }
            "." => next = current.clone(),
            attribute if attribute.starts_with('@') => {
                for e in &contexts {
                    for (name, value) in &e.attributes {
                        if attribute == "@*" || name == &attribute[1..] {
                            next.push(Item::Attribute(value.clone()));
                        }
                    }
                }
            }
            name => {
                next = candidates
                    .into_iter()
                    .filter(|e| name == "*" || e.name == name)
                    .map(Item::Element)
                    .collect();
            }
        }
        if let Some(position) = position {
            next = next
                .into_iter()
                .skip(position.saturating_sub(1))
                .take(1)
                .collect();
        }
        current = next;
        at_document = false;
        descendants_next = false;
    }
    Ok(current)
}

fn evaluate(args: &[ScalarValue]) -> Result<Option<(Element, XPath)>> {
    let (Some(xml), Some(path)) = (text(&args[0]), text(&args[1])) else {
        return Ok(None);
    };
    Ok(Some((parse(xml)?, xpath_expression(path)?)))
}

fn xpath(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some((root, expression)) = evaluate(args)? else {
        return Ok(ScalarValue::Null);
    };
    let XPath::Path(path) = expression else {
        return exec_err!("[INVALID_XPATH] `xpath` needs a location path");
    };
    // A node's value: text and attributes have one, elements do not.
    let values: Vec<ScalarValue> = select(&root, &path)?
        .into_iter()
        .map(|item| match item {
            Item::Element(_) => ScalarValue::Utf8(None),
            other => ScalarValue::Utf8(Some(other.string())),
        })
        .collect();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values,
        &DataType::Utf8,
    )))
}

fn string_value(root: &Element, expression: &XPath) -> Result<String> {
    Ok(match expression {
        XPath::Path(path) | XPath::String(path) => select(root, path)?
            .first()
            .map(Item::string)
            .unwrap_or_default(),
        other => number_value(root, other)?.to_string(),
    })
}

fn number_value(root: &Element, expression: &XPath) -> Result<f64> {
    let number = |s: &str| s.trim().parse::<f64>().unwrap_or(f64::NAN);
    Ok(match expression {
        XPath::Sum(path) => select(root, path)?
            .iter()
            .map(|i| number(&i.string()))
            .sum(),
        XPath::Count(path) => select(root, path)?.len() as f64,
        XPath::Boolean(path) => f64::from(u8::from(!select(root, path)?.is_empty())),
        XPath::Path(path) | XPath::String(path) => select(root, path)?
            .first()
            .map_or(f64::NAN, |i| number(&i.string())),
    })
}

fn xpath_string(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some((root, expression)) = evaluate(args)? else {
        return Ok(ScalarValue::Utf8(None));
    };
    Ok(ScalarValue::Utf8(Some(string_value(&root, &expression)?)))
}

fn xpath_boolean(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some((root, expression)) = evaluate(args)? else {
        return Ok(ScalarValue::Boolean(None));
    };
    let value = match &expression {
        XPath::Path(path) | XPath::Boolean(path) => !select(&root, path)?.is_empty(),
        other => {
            let n = number_value(&root, other)?;
            n != 0.0 && !n.is_nan()
        }
    };
    Ok(ScalarValue::Boolean(Some(value)))
}

fn xpath_number(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    let Some((root, expression)) = evaluate(args)? else {
        return ScalarValue::try_from(context.return_type);
    };
    let n = number_value(&root, &expression)?;
    Ok(match context.return_type {
        DataType::Float64 => ScalarValue::Float64(Some(n)),
        DataType::Float32 => ScalarValue::Float32(Some(n as f32)),
        // Java's (int) of NaN is 0.
        DataType::Int32 => ScalarValue::Int32(Some(if n.is_nan() { 0 } else { n as i32 })),
        DataType::Int16 => ScalarValue::Int16(Some(if n.is_nan() { 0 } else { n as i16 })),
        _ => ScalarValue::Int64(Some(if n.is_nan() { 0 } else { n as i64 })),
    })
}

/// An element as JSON: child elements are fields (repeated ones an array), attributes
/// `_name` fields unless excluded, an element with only text its text.
fn element_json(element: &Element, attributes: bool, typed: bool) -> Json {
    let leaf = |text: String| -> Json {
        if !typed {
            return Json::String(text);
        }
        let trimmed = text.trim();
        if trimmed.parse::<i64>().is_ok() || trimmed.parse::<f64>().is_ok_and(f64::is_finite) {
            Json::Number(trimmed.to_string())
        } else if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false") {
            Json::Bool(trimmed.eq_ignore_ascii_case("true"))
        } else {
            Json::String(text)
        }
    };
    let mut fields: Vec<(String, Json)> = Vec::new();
    if attributes {
        for (name, value) in &element.attributes {
            fields.push((format!("_{name}"), leaf(value.clone())));
        }
    }
    let children: Vec<&Element> = element.elements().collect();
    if children.is_empty() {
        let text = element.text();
        if fields.is_empty() {
            return leaf(text);
        }
        if !text.trim().is_empty() {
            fields.push(("_VALUE".into(), leaf(text)));
        }
        return Json::Object(fields);
    }
    for child in children {
        let value = element_json(child, attributes, typed);
        match fields.iter_mut().find(|(n, _)| *n == child.name) {
            Some((_, Json::Array(items))) => items.push(value),
            Some((_, existing)) => {
                let first = std::mem::replace(existing, Json::Null);
                *existing = Json::Array(vec![first, value]);
            }
            None => fields.push((child.name.clone(), value)),
        }
    }
    Json::Object(fields)
}

/// Reads text leaves as the numbers or booleans `data_type` asks for; one value where an
/// array is asked for is a one-element array.
fn fit(json: Json, data_type: &DataType) -> Json {
    match (json, data_type) {
        (Json::String(s), t) if t.is_numeric() && s.trim().parse::<f64>().is_ok() => {
            Json::Number(s.trim().to_string())
        }
        (Json::String(s), DataType::Boolean) if s.trim().eq_ignore_ascii_case("true") => {
            Json::Bool(true)
        }
        (Json::String(s), DataType::Boolean) if s.trim().eq_ignore_ascii_case("false") => {
            Json::Bool(false)
        }
        (Json::Array(items), DataType::List(field)) => Json::Array(
            items
                .into_iter()
                .map(|i| fit(i, field.data_type()))
                .collect(),
        ),
        (other, DataType::List(field)) => Json::Array(vec![fit(other, field.data_type())]),
        (Json::Object(members), DataType::Struct(fields)) => Json::Object(
            members
                .into_iter()
                .map(|(name, value)| {
                    let value = match fields.iter().find(|f| *f.name() == name) {
                        Some(field) => fit(value, field.data_type()),
                        None => value,
                    };
                    (name, value)
                })
                .collect(),
        ),
        (other, _) => other,
    }
}

fn from_xml(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    let options = options(args.get(2));
    let Some(xml) = text(&args[0]) else {
        return ScalarValue::try_from(context.return_type);
    };
    let Ok(root) = parse(xml) else {
        // PERMISSIVE: a malformed record is a row of NULLs.
        return ScalarValue::try_from(context.return_type);
    };
    let attributes =
        !option(&options, "excludeAttribute").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let json = fit(element_json(&root, attributes, false), context.return_type);
    json_value_with(&json, context.return_type, &options)
}

pub(super) fn schema_of_xml(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let options = options(args.get(1));
    let Some(xml) = text(&args[0]) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let root = parse(xml)?;
    let attributes =
        !option(&options, "excludeAttribute").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let json = match element_json(&root, attributes, true) {
        object @ Json::Object(_) => object,
        leaf => Json::Object(vec![("_VALUE".into(), leaf)]),
    };
    Ok(ScalarValue::Utf8(Some(schema_sql(&json))))
}
