//! Spark's DDL type strings (`'a INT, b ARRAY<STRUCT<x: DOUBLE>>'`, `'map<string,int>'`) as
//! Arrow types, for `from_json`'s schema and readers' `schema` option.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};

/// A DDL string Flint cannot read.
#[derive(Debug, thiserror::Error)]
#[error("[PARSE_SYNTAX_ERROR] Syntax error in the schema '{text}': {reason}")]
pub struct DdlError {
    text: String,
    reason: String,
}

/// Reads a schema: a comma-separated field list (`a INT, b STRING`) or one type
/// (`STRUCT<a: INT>`, `ARRAY<INT>`), as Spark's `DataType.fromDDL` does.
pub fn parse_ddl(text: &str) -> Result<DataType, DdlError> {
    let tokens = tokenize(text);
    let fail = |reason: String| DdlError {
        text: text.to_string(),
        reason,
    };
    // One type (`array<int>`), else a field list.
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
    };
    if let Ok(data_type) = parser.data_type()
        && parser.at == tokens.len()
    {
        return Ok(data_type);
    }
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
    };
    let fields = parser.fields(None).map_err(fail)?;
    if parser.at != tokens.len() {
        return Err(fail(format!("unexpected '{}'", tokens[parser.at])));
    }
    Ok(DataType::Struct(fields))
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '<' | '>' | ',' | ':' | '(' | ')' => tokens.push(c.to_string()),
            '`' => {
                let mut name = String::from("`");
                while let Some(c) = chars.next() {
                    if c == '`' {
                        if chars.peek() == Some(&'`') {
                            chars.next();
                            name.push('`');
                            continue;
                        }
                        break;
                    }
                    name.push(c);
                }
                tokens.push(name);
            }
            '\'' | '"' => {
                // A COMMENT's text: kept as one token.
                let mut literal = String::from("'");
                for c in chars.by_ref() {
                    if c == '\'' || c == '"' {
                        break;
                    }
                    literal.push(c);
                }
                tokens.push(literal);
            }
            c => {
                let mut word = c.to_string();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "<>,:()`".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(word);
            }
        }
    }
    tokens
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Result<&str, String> {
        let token = self.tokens.get(self.at).ok_or("unexpected end")?;
        self.at += 1;
        Ok(token)
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        match self.next()? {
            t if t == token => Ok(()),
            other => Err(format!("expected '{token}', found '{other}'")),
        }
    }

    fn number(&mut self) -> Result<u32, String> {
        let token = self.next()?;
        token
            .parse()
            .map_err(|_| format!("expected a number, found '{token}'"))
    }

    /// Fields up to `end` (`>` inside a struct) or the end of the text.
    fn fields(&mut self, end: Option<&str>) -> Result<Fields, String> {
        let mut fields = Vec::new();
        if self.peek() == end {
            return Ok(Fields::empty());
        }
        loop {
            let name = self.next()?;
            let name = name.strip_prefix('`').unwrap_or(name).to_string();
            if self.peek() == Some(":") {
                self.at += 1;
            }
            let data_type = self.data_type()?;
            let mut nullable = true;
            while let Some(word) = self.peek() {
                if word.eq_ignore_ascii_case("NOT") {
                    self.at += 1;
                    let null = self.next()?;
                    if !null.eq_ignore_ascii_case("NULL") {
                        return Err(format!("expected NULL, found '{null}'"));
                    }
                    nullable = false;
                } else if word.eq_ignore_ascii_case("COMMENT") {
                    self.at += 2;
                } else {
                    break;
                }
            }
            fields.push(Field::new(name, data_type, nullable));
            match self.peek() {
                Some(",") => self.at += 1,
                other if other == end => break,
                Some(other) => return Err(format!("unexpected '{other}'")),
                None => return Err("unexpected end".into()),
            }
        }
        Ok(Fields::from(fields))
    }

    fn data_type(&mut self) -> Result<DataType, String> {
        let word = self.next()?.to_ascii_lowercase();
        Ok(match word.as_str() {
            "boolean" => DataType::Boolean,
            "tinyint" | "byte" => DataType::Int8,
            "smallint" | "short" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" | "long" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => DataType::Float64,
            "date" => DataType::Date32,
            "timestamp" | "timestamp_ltz" | "timestamp_ntz" => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            "time" => {
                // TIME(p): Flint keeps microseconds whatever p (at most 6 in Spark).
                if self.peek() == Some("(") {
                    self.at += 1;
                    let precision = self.number()?;
                    self.expect(")")?;
                    if precision > 6 {
                        return Err(format!(
                            "time({precision}) is not a valid TIME: its precision is 0 to 6"
                        ));
                    }
                }
                crate::functions::time::TIME_TYPE
            }
            "string" => DataType::Utf8,
            "binary" => DataType::Binary,
            "varchar" | "char" => {
                self.expect("(")?;
                self.number()?;
                self.expect(")")?;
                DataType::Utf8
            }
            "decimal" | "dec" | "numeric" => {
                if self.peek() != Some("(") {
                    return Ok(DataType::Decimal128(10, 0));
                }
                self.at += 1;
                let precision = self.number()?;
                let scale = if self.peek() == Some(",") {
                    self.at += 1;
                    self.number()?
                } else {
                    0
                };
                self.expect(")")?;
                if precision == 0 || precision > 38 || scale > precision {
                    return Err(format!(
                        "decimal({precision},{scale}) is not a valid decimal"
                    ));
                }
                DataType::Decimal128(precision as u8, scale as i8)
            }
            "array" => {
                self.expect("<")?;
                let element = self.data_type()?;
                self.expect(">")?;
                DataType::List(Arc::new(Field::new_list_field(element, true)))
            }
            "map" => {
                self.expect("<")?;
                let key = self.data_type()?;
                self.expect(",")?;
                let value = self.data_type()?;
                self.expect(">")?;
                map_type(key, value)
            }
            "struct" => {
                self.expect("<")?;
                let fields = self.fields(Some(">"))?;
                self.expect(">")?;
                DataType::Struct(fields)
            }
            other => return Err(format!("unknown type '{other}'")),
        })
    }
}

/// Arrow's map of `key` to `value` as DataFusion builds it (`entries: struct<key, value>`).
pub fn map_type(key: DataType, value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", key, false),
                Field::new("value", value, true),
            ])),
            false,
        )),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lists_and_types_are_read() {
        let DataType::Struct(fields) = parse_ddl("a INT, b DOUBLE").unwrap() else {
            panic!("not a struct");
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].data_type(), &DataType::Float64);
        let nested =
            parse_ddl("STRUCT<teacher: STRING, student: ARRAY<STRUCT<name: STRING, rank: INT>>>")
                .unwrap();
        assert!(matches!(nested, DataType::Struct(f) if f.len() == 2));
        assert!(matches!(
            parse_ddl("map<string,int>").unwrap(),
            DataType::Map(..)
        ));
        assert_eq!(
            parse_ddl("time Timestamp").unwrap(),
            DataType::Struct(Fields::from(vec![Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true
            )]))
        );
        assert!(parse_ddl("a INT,").is_err());
        assert!(parse_ddl("a WHAT").is_err());
    }
}
