//! Spark SQL text to statements DataFusion's planner understands (Spark's `SparkSqlParser`).
//!
//! The text is tokenized and parsed by `sqlparser`'s Spark dialect. Spark's typed numeric
//! literals (`1L`, `1S`, `1Y`, `1.5D`, `1.5F`, `1.5BD`, `1e3`) become casts at the token
//! level, and the few Spark forms DataFusion's planner does not take are rewritten in the
//! syntax tree: `a RLIKE p` is a regular-expression match, `!x` is `NOT x`, `explode(array)`
//! is DataFusion's `unnest` (named `col`), `TIMESTAMP_NTZ`/`TIMESTAMP_LTZ` are `TIMESTAMP`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, ObjectName, ObjectNamePart, OrderByExpr, OrderByOptions, Query,
    Select, SelectItem, Statement, UnaryOperator, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::SparkSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Parses `spark.sql` text: [`parse_statements`], with each computed select item named as
/// Spark names it (see [`crate::names`]), from the text as written.
pub fn parse_sql(text: &str) -> Result<Vec<Statement>, ParserError> {
    parse(text, true)
}

/// Parses one or more `;`-separated Spark SQL statements.
pub fn parse_statements(text: &str) -> Result<Vec<Statement>, ParserError> {
    parse(text, false)
}

fn parse(text: &str, name_items: bool) -> Result<Vec<Statement>, ParserError> {
    let dialect = SparkSqlDialect {};
    let text = spark_string_literals(text);
    let tokens = Tokenizer::new(&dialect, &text)
        .tokenize()
        .map_err(|e| ParserError::TokenizerError(e.to_string()))?;
    let tokens = typed_literals(intervals(exists_function(spark_tokens(tokens))));
    let mut statements = Parser::new(&dialect)
        .with_tokens(tokens)
        .parse_statements()?;
    for statement in &mut statements {
        if name_items {
            crate::names::name_select_items(statement);
        }
        if let ControlFlow::Break(error) = statement.visit(&mut SparkRewrites::default()) {
            return Err(error);
        }
    }
    Ok(statements)
}

/// Parses one Spark SQL expression, optionally with an alias (`a + 1 AS b`), as Spark's
/// `selectExpr` and `expr()` read it: the same parser and rewrites as a query's select list.
pub fn parse_expression(
    text: &str,
) -> Result<datafusion::sql::sqlparser::ast::ExprWithAlias, ParserError> {
    use datafusion::sql::sqlparser::ast::{ExprWithAlias, SetExpr};
    let mut statements = parse_statements(&format!("SELECT {text}"))?;
    let not_one = || ParserError::ParserError(format!("expected one expression, found: {text}"));
    let Some(Statement::Query(query)) = statements.pop() else {
        return Err(not_one());
    };
    let SetExpr::Select(select) = *query.body else {
        return Err(not_one());
    };
    let select = *select;
    if select.from.is_empty()
        && select.selection.is_none()
        && let [item] = <[SelectItem; 1]>::try_from(select.projection).map_err(|_| not_one())?
    {
        return match item {
            SelectItem::UnnamedExpr(expr) => Ok(ExprWithAlias { expr, alias: None }),
            SelectItem::ExprWithAlias { expr, alias } => Ok(ExprWithAlias {
                expr,
                alias: Some(alias),
            }),
            _ => Err(not_one()),
        };
    }
    Err(not_one())
}

/// One piece of Spark SQL text, as Spark's lexer sees it.
enum Piece<'a> {
    /// A `--` or `/* */` comment; optimizer hints (`/*+ ... */`) are not comments.
    Comment(&'a str),
    /// A string literal: its text as written and its value.
    Literal {
        written: &'a str,
        quote: char,
        value: String,
    },
    /// A `;` outside literals and comments.
    Semicolon,
    /// Anything else (words, numbers, operators, backquoted names, hints), as written.
    Other(&'a str),
}

/// Reads the Spark string literal starting at byte `start` (its opening quote, or the `r`
/// of a raw string): Spark's backslash escapes apply unless it is raw, and a doubled quote
/// is one quote. Returns the quote, the value and the byte just after the literal.
fn read_literal(text: &str, start: usize) -> (char, String, usize) {
    let mut chars = text[start..].char_indices().peekable();
    let raw = matches!(chars.peek(), Some((_, 'r' | 'R')));
    if raw {
        chars.next();
    }
    let quote = chars.next().map_or('\'', |(_, q)| q);
    let mut value = String::new();
    while let Some((at, ch)) = chars.next() {
        match ch {
            '\\' if !raw => {
                let Some((_, escaped)) = chars.next() else {
                    break;
                };
                match escaped {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    'b' => value.push('\u{8}'),
                    '0' => value.push('\0'),
                    'Z' => value.push('\u{1a}'),
                    // Spark keeps the backslash of \% and \_ (LIKE escapes).
                    '%' | '_' => {
                        value.push('\\');
                        value.push(escaped);
                    }
                    other => value.push(other),
                }
            }
            ch if ch == quote => {
                if matches!(chars.peek(), Some((_, next)) if *next == quote) {
                    chars.next();
                    value.push(quote);
                } else {
                    return (quote, value, start + at + ch.len_utf8());
                }
            }
            ch => value.push(ch),
        }
    }
    (quote, value, text.len())
}

/// Spark SQL text in pieces: comments, string literals, `;` and the rest.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let bytes = text.as_bytes();
    let mut pieces = vec![];
    let mut other_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let next = bytes.get(i + 1).copied();
        let piece = match bytes[i] {
            b'-' if next == Some(b'-') => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                Some((Piece::Comment(&text[i..end]), end))
            }
            b'/' if next == Some(b'*') && bytes.get(i + 2) != Some(&b'+') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(text.len(), |n| i + 2 + n + 2);
                Some((Piece::Comment(&text[i..end]), end))
            }
            b'`' => {
                // A backquoted name stays part of the surrounding text.
                i = text[i + 1..]
                    .find('`')
                    .map_or(text.len(), |n| i + 1 + n + 1);
                continue;
            }
            b'r' | b'R'
                if matches!(next, Some(b'\'' | b'"'))
                    && (i == 0
                        || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let (quote, value, end) = read_literal(text, i);
                let written = &text[i..end];
                Some((
                    Piece::Literal {
                        written,
                        quote,
                        value,
                    },
                    end,
                ))
            }
            b'\'' | b'"' => {
                let (quote, value, end) = read_literal(text, i);
                let written = &text[i..end];
                Some((
                    Piece::Literal {
                        written,
                        quote,
                        value,
                    },
                    end,
                ))
            }
            b';' => Some((Piece::Semicolon, i + 1)),
            _ => None,
        };
        match piece {
            Some((piece, end)) => {
                if other_start < i {
                    pieces.push(Piece::Other(&text[other_start..i]));
                }
                pieces.push(piece);
                i = end;
                other_start = end;
            }
            None => i += 1,
        }
    }
    if other_start < text.len() {
        pieces.push(Piece::Other(&text[other_start..]));
    }
    pieces
}

/// Spark's string literals as standard SQL ones: backslash escapes (`'Don\'t'`, `'a\tb'`)
/// are read as Spark reads them, and raw strings (`r'\d+'`) lose their `r`; quotes inside
/// are doubled. Comments and backquoted names are left alone.
pub fn spark_string_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Comment(written) | Piece::Other(written) => out.push_str(written),
            Piece::Semicolon => out.push(';'),
            Piece::Literal { quote, value, .. } => {
                out.push(quote);
                for ch in value.chars() {
                    if ch == quote {
                        out.push(quote);
                    }
                    out.push(ch);
                }
                out.push(quote);
            }
        }
    }
    out
}

/// Splits a Spark SQL script into its statements at `;` outside string literals, quoted
/// names and comments. Comments become a space (optimizer hints `/*+ ... */` stay);
/// statements with nothing but whitespace are dropped; literals keep their Spark form.
pub fn split_script(text: &str) -> Vec<String> {
    let mut statements = vec![];
    let mut current = String::new();
    let mut has_content = false;
    for piece in pieces(text) {
        match piece {
            Piece::Comment(_) => current.push(' '),
            Piece::Literal { written, .. } => {
                has_content = true;
                current.push_str(written);
            }
            Piece::Other(written) => {
                has_content |= !written.trim().is_empty();
                current.push_str(written);
            }
            Piece::Semicolon => {
                if has_content {
                    statements.push(current.trim().to_string());
                }
                current.clear();
                has_content = false;
            }
        }
    }
    if has_content {
        statements.push(current.trim().to_string());
    }
    statements
}

/// The arguments of a function call, named (`collection => x`) or not.
fn call_arguments(expr: &Expr) -> Option<Vec<Expr>> {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let Expr::Function(function) = expr else {
        return None;
    };
    let FunctionArguments::List(list) = &function.args else {
        return Some(vec![]);
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
            | FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            }
            | FunctionArg::ExprNamed {
                arg: FunctionArgExpr::Expr(e),
                ..
            } => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// An array expression that is `array(NULL)` where `array` is NULL or empty (the `_outer`
/// generators keep such rows).
fn outer_array(array: &str) -> String {
    format!(
        "CASE WHEN {array} IS NOT NULL AND cardinality({array}) > 0 THEN {array} ELSE array(NULL) END"
    )
}

/// The SQL of one column of `json_tuple(json, ..., key, ...)`: the field's value as
/// `get_json_object` writes it (also for the DataFrame API's `json_tuple`).
pub fn json_tuple_field(json: &str, key: &str) -> String {
    format!("get_json_object({json}, concat('$[''', {key}, ''']'))")
}

/// The select items a generator in a select list stands for: `explode[_outer](a)` is
/// `col`, `posexplode[_outer](a)` is `pos`, `col`, `stack(n, ...)` is `col0`, `col1`, ...
fn generator_columns(expr: &Expr) -> Option<Result<Vec<SelectItem>, ParserError>> {
    let name = [
        "explode",
        "explode_outer",
        "posexplode",
        "posexplode_outer",
        "stack",
        "json_tuple",
        "inline",
        "inline_outer",
    ]
    .into_iter()
    .find(|name| calls(expr, name))?;
    let args = call_arguments(expr)?;
    let columns: Vec<String> = match (name, args.as_slice()) {
        ("explode", [array]) => vec![format!("unnest({array}) AS col")],
        ("explode_outer", [array]) => {
            vec![format!(
                "unnest({}) AS col",
                outer_array(&array.to_string())
            )]
        }
        ("posexplode", [array]) => vec![
            format!("unnest(generate_series(0, CAST(cardinality({array}) AS BIGINT) - 1)) AS pos"),
            format!("unnest({array}) AS col"),
        ],
        ("posexplode_outer", [array]) => vec![
            format!(
                "unnest(CASE WHEN {array} IS NOT NULL AND cardinality({array}) > 0 \
                 THEN generate_series(0, CAST(cardinality({array}) AS BIGINT) - 1) ELSE array(NULL) END) AS pos"
            ),
            format!("unnest({}) AS col", outer_array(&array.to_string())),
        ],
        // One column per field, `c0`, `c1`, ...: the field's value as `get_json_object`
        // writes it.
        ("json_tuple", [json, keys @ ..]) if !keys.is_empty() => keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                format!(
                    "{} AS c{i}",
                    json_tuple_field(&json.to_string(), &key.to_string())
                )
            })
            .collect(),
        // inline(array of structs): one column per field.
        ("inline", [array]) => vec![format!("unnest(unnest({array}))")],
        ("inline_outer", [array]) => {
            vec![format!(
                "unnest(unnest({}))",
                outer_array(&array.to_string())
            )]
        }
        ("stack", [rows, values @ ..]) if !values.is_empty() => {
            let Ok(rows) = rows.to_string().parse::<usize>() else {
                return Some(Err(ParserError::ParserError(
                    "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] stack's row count must be an \
                     integer literal"
                        .into(),
                )));
            };
            if rows == 0 {
                return None;
            }
            let width = values.len().div_ceil(rows);
            (0..width)
                .map(|column| {
                    let cells: Vec<String> = (0..rows)
                        .map(|row| {
                            values
                                .get(row * width + column)
                                .map_or_else(|| "NULL".to_string(), ToString::to_string)
                        })
                        .collect();
                    format!("unnest(array({})) AS col{column}", cells.join(", "))
                })
                .collect()
        }
        _ => return None,
    };
    let sql = format!("SELECT {}", columns.join(", "));
    let mut statements = match parse_statements(&sql) {
        Ok(statements) => statements,
        Err(error) => return Some(Err(error)),
    };
    match statements.pop() {
        Some(Statement::Query(query)) => match *query.body {
            datafusion::sql::sqlparser::ast::SetExpr::Select(select) => Some(Ok(select.projection)),
            _ => None,
        },
        _ => None,
    }
}

/// The operand at the far left of `expr`, through binary operators and `IS NULL`, `IN`,
/// `BETWEEN` (where an operator written right after it applies first).
fn leftmost_operand(expr: &mut Expr) -> &mut Expr {
    match expr {
        Expr::BinaryOp { left, .. } => leftmost_operand(left),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => leftmost_operand(inner),
        Expr::InList { expr: inner, .. } | Expr::Between { expr: inner, .. } => {
            leftmost_operand(inner)
        }
        other => other,
    }
}

/// sqlparser's Spark dialect reads everything after `div` as its right operand, so
/// `a div 2 = 1` came out as `a div (2 = 1)`; `div` binds as tightly as `/`, so its right
/// operand is only the leftmost operand of what follows.
fn reassociate_div(expr: &mut Expr) {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::MyIntegerDivide,
        right,
    } = expr
    else {
        return;
    };
    if !matches!(
        right.as_ref(),
        Expr::BinaryOp { .. }
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::InList { .. }
            | Expr::Between { .. }
    ) {
        return;
    }
    let mut rest = std::mem::replace(
        right.as_mut(),
        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
    );
    let dividend = std::mem::replace(
        left.as_mut(),
        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
    );
    let slot = leftmost_operand(&mut rest);
    let divisor = std::mem::replace(
        slot,
        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
    );
    *slot = Expr::BinaryOp {
        left: Box::new(dividend),
        op: BinaryOperator::MyIntegerDivide,
        right: Box::new(divisor),
    };
    *expr = rest;
}

/// The Spark type a numeric literal's suffix names (`1L` is a `BIGINT`).
fn suffix_type(suffix: &str) -> Option<&'static str> {
    Some(match suffix.to_ascii_uppercase().as_str() {
        "L" => "BIGINT",
        "S" => "SMALLINT",
        "Y" => "TINYINT",
        "D" => "DOUBLE",
        "F" => "FLOAT",
        "BD" => "DECIMAL",
        _ => return None,
    })
}

/// `CAST(<number> AS <type>)` as tokens.
fn cast_tokens(number: String, sql_type: &str) -> Vec<Token> {
    let space = Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space);
    let type_tokens = Tokenizer::new(&SparkSqlDialect {}, sql_type)
        .tokenize()
        .unwrap_or_else(|_| vec![Token::make_word(sql_type, None)]);
    let mut tokens = vec![
        Token::make_keyword("CAST"),
        Token::LParen,
        Token::Number(number, false),
        space.clone(),
        Token::make_keyword("AS"),
        space,
    ];
    tokens.extend(type_tokens);
    tokens.push(Token::RParen);
    tokens
}

/// Spark forms fixed at the token level: `X 'F0'` (a space before the hex digits) is the
/// binary literal `X'F0'`, `TRIM(BOTH FROM s)` trims spaces, and `VALUES 1, 2 AS t(a)` (rows
/// without parentheses) is `VALUES (1), (2) AS t(a)`.
fn spark_tokens(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut tokens = tokens.into_iter().peekable();
    let last_significant = |out: &[Token]| {
        out.iter()
            .rev()
            .find(|t| !matches!(t, Token::Whitespace(_)))
            .cloned()
    };
    while let Some(token) = tokens.next() {
        if is_keyword(&token, "X") {
            let mut spaces = Vec::new();
            while let Some(Token::Whitespace(_)) = tokens.peek() {
                spaces.extend(tokens.next());
            }
            if let Some(Token::SingleQuotedString(digits)) = tokens.peek() {
                let digits = digits.clone();
                tokens.next();
                out.push(Token::HexStringLiteral(digits));
                continue;
            }
            out.push(token);
            out.extend(spaces);
            continue;
        }
        let trim_side = ["BOTH", "LEADING", "TRAILING"]
            .iter()
            .any(|k| is_keyword(&token, k))
            && matches!(last_significant(&out), Some(Token::LParen));
        if trim_side {
            out.push(token);
            let mut spaces = Vec::new();
            while let Some(Token::Whitespace(_)) = tokens.peek() {
                spaces.extend(tokens.next());
            }
            if tokens.peek().is_some_and(|t| is_keyword(t, "FROM")) {
                out.push(Token::Whitespace(
                    datafusion::sql::sqlparser::tokenizer::Whitespace::Space,
                ));
                out.push(Token::SingleQuotedString(" ".into()));
            }
            out.extend(spaces);
            continue;
        }
        // Only a table of rows (`FROM VALUES ...`), not an INSERT's or a column named so.
        let values = is_keyword(&token, "VALUES")
            && last_significant(&out).is_some_and(|t| is_keyword(&t, "FROM"));
        out.push(token);
        if !values {
            continue;
        }
        while let Some(Token::Whitespace(_)) = tokens.peek() {
            out.extend(tokens.next());
        }
        if matches!(tokens.peek(), Some(Token::LParen) | None) {
            continue;
        }
        // Rows without parentheses: each item up to a comma at depth 0 is one row; the list
        // ends at a word that follows a complete item (`AS`, or the alias itself).
        out.push(Token::LParen);
        let mut depth = 0usize;
        let mut item_started = false;
        while let Some(next) = tokens.peek() {
            match next {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::Comma if depth == 0 => {
                    tokens.next();
                    out.extend([Token::RParen, Token::Comma, Token::LParen]);
                    item_started = false;
                    continue;
                }
                Token::SemiColon if depth == 0 => break,
                Token::Word(_) if depth == 0 && item_started => {
                    let previous = last_significant(&out);
                    let ends_item = !matches!(
                        previous,
                        Some(
                            Token::Plus
                                | Token::Minus
                                | Token::Mul
                                | Token::Div
                                | Token::Period
                                | Token::DoubleColon
                        )
                    ) && !matches!(&previous, Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword != datafusion::sql::sqlparser::keywords::Keyword::NoKeyword && !["NULL", "TRUE", "FALSE"].iter().any(|k| w.value.eq_ignore_ascii_case(k)));
                    if ends_item {
                        break;
                    }
                }
                Token::Whitespace(_) => {
                    out.extend(tokens.next());
                    continue;
                }
                _ => {}
            }
            item_started = true;
            out.extend(tokens.next());
        }
        // Keep trailing whitespace outside the parenthesis.
        let mut trailing = Vec::new();
        while let Some(Token::Whitespace(_)) = out.last() {
            trailing.extend(out.pop());
        }
        out.push(Token::RParen);
        out.extend(trailing.into_iter().rev());
    }
    out
}

fn is_keyword(token: &Token, keyword: &str) -> bool {
    matches!(token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(keyword))
}

/// Spark's `exists(array, x -> ...)` is a function, where sqlparser expects a subquery:
/// `EXISTS (` not followed by a query names DataFusion's `array_any_match`.
fn exists_function(mut tokens: Vec<Token>) -> Vec<Token> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|i| !matches!(tokens[*i], Token::Whitespace(_)))
        .collect();
    for window in significant.windows(3) {
        let [exists, paren, first] = [window[0], window[1], window[2]];
        if is_keyword(&tokens[exists], "EXISTS")
            && tokens[paren] == Token::LParen
            && !["SELECT", "WITH", "VALUES", "FROM", "TABLE"]
                .iter()
                .any(|k| is_keyword(&tokens[first], k))
            && tokens[first] != Token::LParen
        {
            tokens[exists] = Token::make_word("array_any_match", None);
        }
    }
    tokens
}

/// Spark's interval literals DataFusion does not read, as the one string form it does:
/// `INTERVAL 5 days 3 hours` and `INTERVAL '1-2' YEAR TO MONTH` become
/// `CAST('5 day 3 hour' AS INTERVAL)` and `CAST('1 years 2 months' AS INTERVAL)`.
fn intervals(tokens: Vec<Token>) -> Vec<Token> {
    const UNITS: &[&str] = &[
        "YEAR",
        "MONTH",
        "WEEK",
        "DAY",
        "HOUR",
        "MINUTE",
        "SECOND",
        "MILLISECOND",
        "MICROSECOND",
    ];
    let unit = |token: &Token| match token {
        Token::Word(word) if word.quote_style.is_none() => {
            let upper = word.value.to_ascii_uppercase();
            let singular = upper.strip_suffix('S').unwrap_or(&upper).to_string();
            UNITS.contains(&singular.as_str()).then_some(singular)
        }
        _ => None,
    };
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    let next =
        |from: usize| (from..tokens.len()).find(|j| !matches!(tokens[*j], Token::Whitespace(_)));
    while i < tokens.len() {
        if !is_keyword(&tokens[i], "INTERVAL") {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        // INTERVAL 'text' FROM TO UNIT
        if let Some(text_at) = next(i + 1)
            && let Token::SingleQuotedString(text) = &tokens[text_at]
            && let Some(from_at) = next(text_at + 1)
            && let Some(from) = unit(&tokens[from_at])
            && let Some(to_at) = next(from_at + 1)
            && is_keyword(&tokens[to_at], "TO")
            && let Some(last_at) = next(to_at + 1)
            && let Some(last) = unit(&tokens[last_at])
            && let Some(text) = interval_fields(text, &from, &last)
        {
            out.extend(interval_cast(text));
            i = last_at + 1;
            continue;
        }
        // INTERVAL n unit [n unit]...
        let mut parts = vec![];
        let mut at = i + 1;
        while let Some(number_at) = next(at) {
            let (negative, number_at) = match &tokens[number_at] {
                Token::Minus => match next(number_at + 1) {
                    Some(n) => (true, n),
                    None => break,
                },
                _ => (false, number_at),
            };
            let Token::Number(number, _) = &tokens[number_at] else {
                break;
            };
            let Some(unit_at) = next(number_at + 1) else {
                break;
            };
            let Some(name) = unit(&tokens[unit_at]) else {
                break;
            };
            // `INTERVAL 1 DAY TO ...` or a lone `INTERVAL 1 DAY` DataFusion reads itself.
            parts.push(format!(
                "{}{number} {}",
                if negative { "-" } else { "" },
                name.to_ascii_lowercase()
            ));
            at = unit_at + 1;
        }
        if parts.len() > 1 {
            out.extend(interval_cast(parts.join(" ")));
            i = at;
        } else {
            out.push(tokens[i].clone());
            i += 1;
        }
    }
    out
}

/// `CAST('<text>' AS INTERVAL)` as tokens: the dialect wants a unit after an interval's
/// text, and DataFusion reads several units in a cast.
fn interval_cast(text: String) -> Vec<Token> {
    let space = Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space);
    vec![
        Token::make_keyword("CAST"),
        Token::LParen,
        Token::SingleQuotedString(text),
        space.clone(),
        Token::make_keyword("AS"),
        space,
        Token::make_keyword("INTERVAL"),
        Token::RParen,
    ]
}

/// `'1-2'` of `YEAR TO MONTH` as `1 years 2 months`, `'1 2:03:04.5'` of `DAY TO SECOND` as
/// `1 days 2 hours 3 minutes 4.5 seconds`; `None` when the text does not fit the fields.
fn interval_fields(text: &str, from: &str, to: &str) -> Option<String> {
    const FIELDS: &[&str] = &["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"];
    let first = FIELDS.iter().position(|f| *f == from)?;
    let last = FIELDS.iter().position(|f| *f == to)?;
    if last <= first || (first < 2 && last >= 2) {
        return None;
    }
    let text = text.trim();
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.strip_prefix('+').unwrap_or(text)),
    };
    let values: Vec<&str> = text
        .split(['-', ' ', ':'])
        .filter(|v| !v.is_empty())
        .collect();
    if values.len() != last - first + 1 {
        return None;
    }
    Some(
        values
            .iter()
            .zip(&FIELDS[first..=last])
            .map(|(v, f)| format!("{sign}{v} {}s", f.to_ascii_lowercase()))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Rewrites Spark's typed numeric literals into casts: a number directly followed by a
/// suffix word (`1L`), and numbers in scientific notation, which Spark reads as doubles.
fn typed_literals(tokens: Vec<Token>) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        let Token::Number(number, long) = token else {
            out.push(match token {
                // Spark's TIMESTAMP_NTZ and TIMESTAMP_LTZ are both DataFusion's TIMESTAMP.
                Token::Word(word)
                    if word.quote_style.is_none()
                        && (word.value.eq_ignore_ascii_case("TIMESTAMP_NTZ")
                            || word.value.eq_ignore_ascii_case("TIMESTAMP_LTZ")) =>
                {
                    Token::make_keyword("TIMESTAMP")
                }
                token => token,
            });
            continue;
        };
        let suffix = match tokens.peek() {
            Some(Token::Word(word)) if word.quote_style.is_none() => suffix_type(&word.value),
            _ => None,
        };
        if long {
            // The tokenizer already took an `L` suffix.
            out.extend(cast_tokens(number, "BIGINT"));
        } else if let Some(sql_type) = suffix {
            tokens.next();
            let sql_type = if sql_type == "DECIMAL" {
                decimal_type(&number)
            } else {
                sql_type.to_string()
            };
            out.extend(cast_tokens(number, &sql_type));
        } else if number.contains(['e', 'E']) {
            out.extend(cast_tokens(number, "DOUBLE"));
        } else {
            out.push(Token::Number(number, false));
        }
    }
    out
}

/// The exact decimal type of a `BD` literal: `1.50BD` is `DECIMAL(3,2)`.
fn decimal_type(number: &str) -> String {
    let digits = number.trim_start_matches(['-', '+']);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = whole.trim_start_matches('0');
    let scale = fraction.len();
    let precision = (whole.len() + scale).max(1).max(scale);
    format!("DECIMAL({precision},{scale})")
}

/// Spark forms DataFusion's planner does not take, rewritten into ones it does.
#[derive(Default)]
struct SparkRewrites {
    /// Names of the lateral views rewritten so far: `v.e` is then just `e`.
    lateral_views: Vec<String>,
}

/// `FROM t LATERAL VIEW [OUTER] explode(x) v AS e` as `FROM (SELECT t.*, unnest(x) AS e FROM
/// t) AS t`, one derived table per lateral view (only `explode`/`explode_outer` of an array
/// with one column alias over a single relation; other forms stay unsupported). Returns the
/// lateral views' names.
fn rewrite_lateral_views(select: &mut Select) -> Option<Vec<String>> {
    use datafusion::sql::sqlparser::ast::{SetExpr, TableAlias, TableFactor};
    let [from] = select.from.as_mut_slice() else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    let alias =
        match &from.relation {
            TableFactor::Table { name, alias, .. } => alias
                .as_ref()
                .map(|a| a.name.clone())
                .or_else(|| match name.0.last() {
                    Some(ObjectNamePart::Identifier(ident)) => Some(ident.clone()),
                    _ => None,
                })?,
            TableFactor::Derived {
                alias: Some(alias), ..
            } => alias.name.clone(),
            _ => return None,
        };
    let mut relation = from.relation.clone();
    let mut names = vec![];
    for view in &select.lateral_views {
        let Expr::Function(function) = &view.lateral_view else {
            return None;
        };
        let outer = view.outer
            || calls(&view.lateral_view, "explode_outer")
            || calls(&view.lateral_view, "posexplode_outer");
        let explode =
            calls(&view.lateral_view, "explode") || calls(&view.lateral_view, "explode_outer");
        let posexplode = calls(&view.lateral_view, "posexplode")
            || calls(&view.lateral_view, "posexplode_outer");
        let datafusion::sql::sqlparser::ast::FunctionArguments::List(list) = &function.args else {
            return None;
        };
        let [argument] = list.args.as_slice() else {
            return None;
        };
        let columns = match (explode, posexplode, view.lateral_col_alias.as_slice()) {
            (true, _, [column]) if outer => {
                format!("unnest({}) AS {column}", outer_array(&argument.to_string()))
            }
            (true, _, [column]) => format!("unnest({argument}) AS {column}"),
            // Two names: the keys and values of a map.
            (true, _, [key, value]) if !outer => format!(
                "unnest(map_keys({argument})) AS {key}, unnest(map_values({argument})) AS {value}"
            ),
            (_, true, [position, column]) if !outer => format!(
                "unnest(generate_series(0, CAST(cardinality({argument}) AS BIGINT) - 1)) AS {position}, \
                 unnest({argument}) AS {column}"
            ),
            _ => return None,
        };
        let sql = format!("SELECT {alias}.*, {columns} FROM {relation}");
        let Ok(mut parsed) = parse_statements(&sql) else {
            return None;
        };
        let Some(Statement::Query(query)) = parsed.pop() else {
            return None;
        };
        if !matches!(*query.body, SetExpr::Select(_)) {
            return None;
        }
        relation = TableFactor::Derived {
            lateral: false,
            subquery: query,
            alias: Some(TableAlias {
                explicit: true,
                name: alias.clone(),
                columns: vec![],
                at: None,
            }),
            sample: None,
        };
        if let Some(ObjectNamePart::Identifier(name)) = view.lateral_view_name.0.last() {
            names.push(name.value.clone());
        }
    }
    from.relation = relation;
    select.lateral_views.clear();
    Some(names)
}

/// Spark's `grouping_id()` is `grouping_id` of every grouping column, in order.
fn grouping_id_of_group(select: &mut datafusion::sql::sqlparser::ast::Select) {
    use datafusion::sql::sqlparser::ast::{
        FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr,
    };
    let GroupByExpr::Expressions(groups, _) = &select.group_by else {
        return;
    };
    let mut columns: Vec<Expr> = Vec::new();
    for group in groups {
        let sets: Vec<&Expr> = match group {
            Expr::Cube(sets) | Expr::Rollup(sets) | Expr::GroupingSets(sets) => {
                sets.iter().flatten().collect()
            }
            other => vec![other],
        };
        for expr in sets {
            if !columns.contains(expr) {
                columns.push(expr.clone());
            }
        }
    }
    if columns.is_empty() {
        return;
    }
    let fill = |expr: &mut Expr| {
        let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(expr, |e: &mut Expr| {
            if calls(e, "grouping_id")
                && let Expr::Function(function) = e
                && match &function.args {
                    FunctionArguments::None => true,
                    FunctionArguments::List(list) => list.args.is_empty(),
                    FunctionArguments::Subquery(_) => false,
                }
            {
                function.args = FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args: columns
                        .iter()
                        .map(|c| FunctionArg::Unnamed(FunctionArgExpr::Expr(c.clone())))
                        .collect(),
                    clauses: Vec::new(),
                });
            }
            ControlFlow::<()>::Continue(())
        });
    };
    for item in &mut select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => fill(expr),
            _ => {}
        }
    }
    if let Some(having) = &mut select.having {
        fill(having);
    }
}

/// A struct field of a lambda's parameter (`acc.count`) is read as `acc['count']`: DataFusion
/// looks a dotted name up among the input's columns, where no lambda parameter is.
fn lambda_field_access(
    lambda: &mut datafusion::sql::sqlparser::ast::LambdaFunction,
) -> Result<(), ParserError> {
    let params: Vec<String> = lambda
        .params
        .iter()
        .map(|p| p.name.value.to_ascii_lowercase())
        .collect();
    let mut failure = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(
        lambda.body.as_mut(),
        |e: &mut Expr| {
            if let Expr::CompoundIdentifier(parts) = e
                && let [param, fields @ ..] = parts.as_slice()
                && !fields.is_empty()
                && params.contains(&param.value.to_ascii_lowercase())
            {
                let mut text = param.to_string();
                for field in fields {
                    text.push_str(&format!("['{}']", field.value.replace('\'', "''")));
                }
                match parse_expr(&text) {
                    Ok(access) => *e = access,
                    Err(error) => failure = Some(error),
                }
            }
            ControlFlow::<()>::Continue(())
        },
    );
    failure.map_or(Ok(()), Err)
}

/// Whether `text` is one bare word (a unit keyword such as `YEAR`).
fn is_word(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphabetic())
}

/// Whether `expr` calls the function `name` (case-insensitive, unqualified).
fn calls(expr: &Expr, name: &str) -> bool {
    match expr {
        Expr::Function(function) => matches!(
            function.name.0.as_slice(),
            [ObjectNamePart::Identifier(ident)] if ident.value.eq_ignore_ascii_case(name)
        ),
        _ => false,
    }
}

fn time_without_precision(data_type: &mut datafusion::sql::sqlparser::ast::DataType) {
    use datafusion::sql::sqlparser::ast::DataType as SqlType;
    if let SqlType::Time(precision @ Some(_), _) = data_type {
        *precision = None;
    }
}

/// Spark's `BINARY` is the type DataFusion's planner knows as `BYTEA` (it refuses
/// `BINARY`), also as an array's element.
fn binary_as_bytea(data_type: &mut datafusion::sql::sqlparser::ast::DataType) {
    use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as SqlType};
    match data_type {
        SqlType::Binary(_) | SqlType::Varbinary(_) => *data_type = SqlType::Bytea,
        SqlType::Array(
            ArrayElemTypeDef::AngleBracket(element)
            | ArrayElemTypeDef::SquareBracket(element, _)
            | ArrayElemTypeDef::Parenthesis(element),
        ) => binary_as_bytea(element),
        _ => {}
    }
}

/// Parses `sql`, one expression.
fn parse_expr(sql: &str) -> Result<Expr, ParserError> {
    let mut statements = parse_statements(&format!("SELECT {sql}"))?;
    if let Some(Statement::Query(query)) = statements.pop()
        && let datafusion::sql::sqlparser::ast::SetExpr::Select(mut select) = *query.body
        && let Some(SelectItem::UnnamedExpr(expr)) = select.projection.pop()
    {
        return Ok(expr);
    }
    Err(ParserError::ParserError(format!(
        "not an expression: {sql}"
    )))
}

/// The name of the function `expr` calls, lower-cased (unqualified calls only).
fn function_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Function(function) => match function.name.0.as_slice() {
            [ObjectNamePart::Identifier(ident)] => Some(ident.value.to_ascii_lowercase()),
            _ => None,
        },
        _ => None,
    }
}

/// The session time zone in rewritten SQL: the analyzer writes the zone in its place.
const SESSION_ZONE: &str = "flint_session_zone()";

/// A duration of `window` (`'10 minutes'`, `'1 day 2 hours'`, `'0 second'`) in microseconds,
/// read as Spark reads the interval string; months and years are refused, as Spark refuses
/// them in time windows.
fn window_duration(function: &str, argument: &str, text: &str) -> Result<i64, ParserError> {
    let invalid = |why: String| {
        ParserError::ParserError(format!(
            "[INVALID_PARAMETER_VALUE] The value of parameter `{argument}` in `{function}` is \
             invalid: {why}"
        ))
    };
    let literal = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .ok_or_else(|| {
            invalid(format!(
                "expects a string literal such as '5 minutes', got {text}"
            ))
        })?;
    let lower = literal.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower
        .strip_prefix("interval")
        .unwrap_or(&lower)
        .split_whitespace()
        .collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(invalid(format!("'{literal}' is not an interval")));
    }
    let mut micros = 0i128;
    for pair in words.chunks(2) {
        let (number, unit) = (pair[0], pair[1]);
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        let not_interval = || invalid(format!("'{literal}' is not an interval"));
        // Spark's units; only seconds may have a fraction (nanoseconds are cut to micros).
        let nanos_per_unit: i128 = match unit {
            "nanosecond" => 1,
            "microsecond" => 1_000,
            "millisecond" => 1_000_000,
            "second" => 1_000_000_000,
            "minute" => 60_000_000_000,
            "hour" => 3_600_000_000_000,
            "day" => 86_400_000_000_000,
            "week" => 604_800_000_000_000,
            "month" | "year" => {
                return Err(invalid(format!(
                    "Intervals greater than a month is not supported ({literal})."
                )));
            }
            _ => return Err(not_interval()),
        };
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number.strip_prefix('+').unwrap_or(number)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if (!fraction.is_empty() && unit != "second")
            || fraction.len() > 9
            || (whole.is_empty() && fraction.is_empty())
            || !whole
                .chars()
                .chain(fraction.chars())
                .all(|c| c.is_ascii_digit())
        {
            return Err(not_interval());
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| not_interval())?
        };
        let fraction_nanos: i128 = if fraction.is_empty() {
            0
        } else {
            format!("{fraction:0<9}")
                .parse()
                .map_err(|_| not_interval())?
        };
        let nanos = whole
            .checked_mul(nanos_per_unit)
            .and_then(|n| n.checked_add(fraction_nanos))
            .ok_or_else(not_interval)?;
        micros += if negative { -nanos } else { nanos } / 1_000;
    }
    i64::try_from(micros).map_err(|_| invalid(format!("'{literal}' is out of range")))
}

/// Spark's time windows, as expressions of their time column: `window(time, length[,
/// slide[, start]])` is the struct `{start, end}` of the tumbling window holding the row's
/// instant (windows are aligned on the epoch plus `start`, as Spark's `TimeWindowing`
/// computes them on instants), or for a sliding window (a slide shorter than the length) the
/// array of every window holding it, which `crate::time_window` makes a row of each; and
/// `window_time(w)` is the window's last microsecond.
fn time_window(name: &str, args: &[String]) -> Result<Option<String>, ParserError> {
    let epoch =
        |value: &str| format!("flint_epoch(CAST({value} AS TIMESTAMP), 1000000, {SESSION_ZONE})");
    let timestamp = |micros: &str| format!("flint_timestamp({micros}, 1000000, {SESSION_ZONE})");
    match (name, args) {
        ("window_time", [window]) => Ok(Some(timestamp(&format!(
            "{} - 1",
            epoch(&format!("get_field({window}, 'end')"))
        )))),
        ("window", [time, length, rest @ ..]) if rest.len() <= 2 => {
            let length = window_duration(name, "windowDuration", length)?;
            let slide = match rest.first() {
                Some(slide) => window_duration(name, "slideDuration", slide)?,
                None => length,
            };
            let start = match rest.get(1) {
                Some(start) => window_duration(name, "startTime", start)?,
                None => 0,
            };
            let invalid = |why: String| {
                Err(ParserError::ParserError(format!(
                    "[INVALID_PARAMETER_VALUE] The value of parameter `{name}` is invalid: {why}"
                )))
            };
            if length <= 0 || slide <= 0 {
                return invalid(format!(
                    "the window duration ({length} us) and slide duration ({slide} us) must be greater than 0."
                ));
            }
            if slide > length {
                return invalid(format!(
                    "the slide duration ({slide} us) must be less than or equal to the window duration ({length} us)."
                ));
            }
            if start.abs() >= slide {
                return invalid(format!(
                    "the absolute value of the start time ({start} us) must be less than the slide duration ({slide} us)."
                ));
            }
            let instant = epoch(time);
            let first =
                format!("({instant} - ((({instant} - {start}) % {slide}) + {slide}) % {slide})");
            if slide != length {
                // Sliding windows: a row is in every window starting at most `length` before
                // it, one `slide` apart (Spark's `Expand` over the overlapping windows);
                // `crate::time_window` makes one row of each.
                let overlapping = (length + slide - 1) / slide;
                let starts: Vec<String> = (0..overlapping)
                    .map(|i| format!("{first} - {}", i * slide))
                    .collect();
                let window = format!(
                    "named_struct('start', {}, 'end', {})",
                    timestamp("s"),
                    timestamp(&format!("s + {length}"))
                );
                return Ok(Some(format!(
                    "{}(transform(filter(array({}), s -> s + {length} > {instant}), s -> {window}), \
                     CAST({time} AS TIMESTAMP))",
                    crate::time_window::SLIDING_MARKER,
                    starts.join(", ")
                )));
            }
            // The marker has the rows without a time filtered out (`crate::time_window`).
            Ok(Some(format!(
                "{}(named_struct('start', {}, 'end', {}), CAST({time} AS TIMESTAMP))",
                crate::time_window::MARKER,
                timestamp(&first),
                timestamp(&format!("{first} + {length}"))
            )))
        }
        _ => Ok(None),
    }
}

/// Spark functions that are another expression of their arguments, as SQL text.
fn rewritten_call(name: &str, args: &[String]) -> Option<String> {
    let boolean = |text: &str| match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    Some(match (name, args) {
        ("equal_null", [a, b]) => format!("(({a}) <=> ({b}))"),
        ("zeroifnull", [a]) => format!("coalesce({a}, 0)"),
        ("nullifzero", [a]) => format!("nullif({a}, 0)"),
        ("positive", [a]) => format!("({a})"),
        // `replace(str, search)` removes `search`: the replacement defaults to ''.
        ("replace", [text, search]) => format!("replace({text}, {search}, '')"),
        // An empty map (DataFusion's `map` needs keys).
        ("map", []) => "map_from_arrays(array(), array())".to_string(),
        // Spark's map(k1, v1, ...) follows spark.sql.mapKeyDedupPolicy (DataFusion's `map`
        // refuses a repeated key whatever the setting).
        ("map", entries) if entries.len() % 2 == 0 => {
            let keys: Vec<&str> = entries.iter().step_by(2).map(String::as_str).collect();
            let values: Vec<&str> = entries
                .iter()
                .skip(1)
                .step_by(2)
                .map(String::as_str)
                .collect();
            format!(
                "map_from_arrays(array({}), array({}))",
                keys.join(", "),
                values.join(", ")
            )
        }
        ("sequence", [start, stop]) => format!(
            "generate_series({start}, {stop}, CASE WHEN ({start}) <= ({stop}) THEN 1 ELSE -1 END)"
        ),
        ("sequence", [start, stop, step]) => format!("generate_series({start}, {stop}, {step})"),
        // get(array, i) counts from 0 and is NULL out of bounds.
        ("get", [array, index]) => format!(
            "CASE WHEN ({index}) < 0 THEN NULL ELSE try_element_at({array}, ({index}) + 1) END"
        ),
        ("map_contains_key", [map, key]) => format!("array_has(map_keys({map}), {key})"),
        ("time_bucket", [width, time]) => format!("date_bin({width}, {time})"),
        ("time_bucket", [width, time, origin]) => format!("date_bin({width}, {time}, {origin})"),
        // Spark's type names as functions are casts.
        (
            "boolean" | "tinyint" | "smallint" | "int" | "bigint" | "float" | "double" | "decimal"
            | "string" | "binary",
            [value],
        ) => format!("CAST({value} AS {})", name.to_ascii_uppercase()),
        ("ceil" | "ceiling", [value, scale]) => format!("spark_ceil({value}, {scale})"),
        ("floor", [value, scale]) => format!("spark_floor({value}, {scale})"),
        ("date", [a]) => format!("CAST({a} AS DATE)"),
        // Spark's array_prepend(array, element) is DataFusion's (element, array); a NULL
        // array stays NULL in both.
        ("array_prepend", [array, element]) => {
            format!(
                "CASE WHEN ({array}) IS NULL THEN NULL ELSE list_prepend({element}, {array}) END"
            )
        }
        ("array_append", [array, element]) => {
            format!(
                "CASE WHEN ({array}) IS NULL THEN NULL ELSE list_append({array}, {element}) END"
            )
        }
        ("current_database" | "current_schema", []) => "'default'".into(),
        ("current_catalog", []) => "'spark_catalog'".into(),
        ("current_path", []) => "'system.builtin,system.session,spark_catalog.default'".into(),
        ("timestamp", [a]) => format!("CAST({a} AS TIMESTAMP)"),
        ("to_timestamp_ntz" | "to_timestamp_ltz", _) => {
            format!("to_timestamp({})", args.join(", "))
        }
        // Where a timestamp meets the epoch or another zone, the session time zone converts
        // (see `functions::timezone`).
        ("unix_timestamp" | "to_unix_timestamp", []) => "flint_epoch(flint_now(), 1, 'UTC')".into(),
        ("unix_timestamp" | "to_unix_timestamp", [value]) => {
            format!("flint_epoch(to_timestamp({value}), 1, {SESSION_ZONE})")
        }
        ("unix_timestamp" | "to_unix_timestamp", [value, format]) => {
            format!("flint_epoch(to_timestamp({value}, {format}), 1, {SESSION_ZONE})")
        }
        ("unix_seconds", [a]) => format!("flint_epoch({a}, 1, {SESSION_ZONE})"),
        ("unix_millis", [a]) => format!("flint_epoch({a}, 1000, {SESSION_ZONE})"),
        ("unix_micros", [a]) => format!("flint_epoch({a}, 1000000, {SESSION_ZONE})"),
        ("timestamp_seconds", [a]) => format!("flint_timestamp({a}, 1, {SESSION_ZONE})"),
        ("timestamp_millis", [a]) => format!("flint_timestamp({a}, 1000, {SESSION_ZONE})"),
        ("timestamp_micros", [a]) => format!("flint_timestamp({a}, 1000000, {SESSION_ZONE})"),
        ("from_unixtime", [a]) => format!(
            "date_format(flint_timestamp(CAST({a} AS BIGINT), 1, {SESSION_ZONE}), 'yyyy-MM-dd HH:mm:ss')"
        ),
        ("from_unixtime", [a, format]) => format!(
            "date_format(flint_timestamp(CAST({a} AS BIGINT), 1, {SESSION_ZONE}), {format})"
        ),
        ("current_timestamp" | "now" | "localtimestamp", []) => {
            format!("flint_timestamp(flint_now(), 1000000, {SESSION_ZONE})")
        }
        ("current_date" | "curdate", []) => {
            format!("CAST(flint_timestamp(flint_now(), 1000000, {SESSION_ZONE}) AS DATE)")
        }
        // With a zone, the fields (or a date and a time) are a wall-clock time there: its
        // instant, seen here.
        (
            "make_timestamp"
            | "try_make_timestamp"
            | "make_timestamp_ltz"
            | "try_make_timestamp_ltz",
            [fields @ .., zone],
        ) if fields.len() == 6 || fields.len() == 2 => format!(
            "flint_timestamp(flint_epoch({name}({}), 1000000, {zone}), 1000000, {SESSION_ZONE})",
            fields.join(", ")
        ),
        // The unit is a keyword (`timestampadd(YEAR, 1, ts)`): Flint's functions take it
        // as text.
        ("timestampadd" | "dateadd" | "date_add", [unit, quantity, stamp]) if is_word(unit) => {
            format!("timestampadd('{unit}', {quantity}, {stamp})")
        }
        ("timestampdiff" | "datediff" | "date_diff", [unit, start, end]) if is_word(unit) => {
            format!("timestampdiff('{unit}', {start}, {end})")
        }
        // max_by(x, y, k): the x of the k rows of greatest y, greatest first (rows whose y is
        // NULL left out); min_by the least.
        ("max_by" | "min_by", [value, ordering, k]) => format!(
            "transform(slice(sort_array(collect_list(CASE WHEN ({ordering}) IS NOT NULL THEN \
             named_struct('o', {ordering}, 'v', {value}) END), {}), 1, {k}), \
             __flint_by -> __flint_by['v'])",
            name == "min_by"
        ),
        // Spark's grouping_id is DataFusion's grouping of several columns, as a bigint.
        ("grouping_id", columns) if !columns.is_empty() => {
            format!("CAST(grouping({}) AS BIGINT)", columns.join(", "))
        }
        ("current_timezone", []) => SESSION_ZONE.into(),
        ("convert_timezone", [target, value]) => {
            format!("convert_timezone({SESSION_ZONE}, {target}, {value})")
        }
        // Spark's `convertTz`: the instant's wall-clock time in one zone, read in the other.
        ("from_utc_timestamp", [a, zone]) => format!(
            "flint_timestamp(flint_epoch(flint_timestamp(flint_epoch({a}, 1000000, \
             {SESSION_ZONE}), 1000000, {zone}), 1000000, 'UTC'), 1000000, {SESSION_ZONE})"
        ),
        ("to_utc_timestamp", [a, zone]) => format!(
            "flint_timestamp(flint_epoch(flint_timestamp(flint_epoch({a}, 1000000, \
             {SESSION_ZONE}), 1000000, 'UTC'), 1000000, {zone}), 1000000, {SESSION_ZONE})"
        ),
        // Spark's two-argument ltrim/rtrim take the characters first (DataFusion: last).
        ("ltrim", [characters, value]) => format!("TRIM(LEADING {characters} FROM {value})"),
        ("rtrim", [characters, value]) => format!("TRIM(TRAILING {characters} FROM {value})"),
        // A negative length (the DataFrame call's default) replaces as many characters as
        // the replacement has.
        ("overlay", [value, replacement, position, length]) => format!(
            "overlay({value} PLACING {replacement} FROM {position} FOR \
             CASE WHEN ({length}) < 0 THEN char_length({replacement}) ELSE {length} END)"
        ),
        ("dayname", [a]) => format!("date_format({a}, 'EEE')"),
        ("date_from_unix_date", [a]) => format!("date_add(DATE '1970-01-01', {a})"),
        // decode(expr, search, result [, search, result]... [, default]): NULL matches NULL.
        ("decode", [value, rest @ ..]) if rest.len() >= 2 => {
            let mut case = String::from("CASE");
            for pair in rest.chunks(2) {
                match pair {
                    [search, result] => {
                        case.push_str(&format!(" WHEN ({value}) <=> ({search}) THEN {result}"))
                    }
                    [default] => case.push_str(&format!(" ELSE {default}")),
                    _ => {}
                }
            }
            case.push_str(" END");
            case
        }
        // sort_array puts NULLs first ascending, last descending.
        ("sort_array", [array]) => format!("array_sort({array}, 'ASC', 'NULLS FIRST')"),
        ("sort_array", [array, ascending]) => match boolean(ascending)? {
            true => format!("array_sort({array}, 'ASC', 'NULLS FIRST')"),
            false => format!("array_sort({array}, 'DESC', 'NULLS LAST')"),
        },
        _ => return None,
    })
}

/// Rewrites Spark calls DataFusion has another spelling for: see [`rewritten_call`]; plus
/// `forall(a, x -> p)` as `NOT exists(a, x -> NOT p)` (the same answer, NULLs included),
/// `first(x, true)` as `first(x) IGNORE NULLS`, a `schema_of_json('...')` schema of
/// `from_json` (and the csv and xml forms) as the schema it infers, `string_agg(x)` with Spark's empty
/// delimiter and its `WITHIN GROUP (ORDER BY ...)` as an ordered aggregate, and the
/// arguments Spark allows but ignores in `rank(x) OVER (...)`.
fn rewrite_call(expr: &mut Expr) -> Result<(), ParserError> {
    use datafusion::sql::sqlparser::ast::{
        FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments, NullTreatment,
        Value,
    };
    let Some(name) = function_name(expr) else {
        return Ok(());
    };
    let Some(args) = call_arguments(expr) else {
        return Ok(());
    };
    let texts: Vec<String> = args.iter().map(ToString::to_string).collect();
    if let Some(sql) = time_window(&name, &texts)? {
        *expr = Expr::Nested(Box::new(parse_expr(&sql)?));
        return Ok(());
    }
    if let Some(sql) = rewritten_call(&name, &texts) {
        *expr = Expr::Nested(Box::new(parse_expr(&sql)?));
        return Ok(());
    }
    let Expr::Function(function) = expr else {
        return Ok(());
    };
    match name.as_str() {
        "from_json" | "from_csv" | "from_xml" => {
            if let FunctionArguments::List(list) = &mut function.args
                && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(schema))) =
                    list.args.get_mut(1)
                && let Some(ddl) = inferred_schema(schema)
            {
                *schema = Expr::value(Value::SingleQuotedString(ddl));
            }
        }
        "forall" => {
            if let FunctionArguments::List(list) = &mut function.args
                && let [
                    _,
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(lambda))),
                ] = list.args.as_mut_slice()
            {
                let body = std::mem::replace(&mut *lambda.body, Expr::value(Value::Null));
                *lambda.body = Expr::UnaryOp {
                    op: UnaryOperator::Not,
                    expr: Box::new(Expr::Nested(Box::new(body))),
                };
                function.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(
                    "array_any_match",
                ))]);
                let call = std::mem::replace(expr, Expr::value(Value::Null));
                *expr = Expr::UnaryOp {
                    op: UnaryOperator::Not,
                    expr: Box::new(Expr::Nested(Box::new(call))),
                };
            }
        }
        "first" | "first_value" | "last" | "last_value" | "any_value" => {
            // Spark's any_value is first (NULLs included), not DataFusion's first non-NULL.
            if name == "any_value" {
                function.name =
                    ObjectName(vec![ObjectNamePart::Identifier(Ident::new("first_value"))]);
            }
            let ignore_nulls = matches!(
                texts.get(1).map(|t| t.to_ascii_lowercase()).as_deref(),
                Some("true")
            );
            if texts.len() == 2
                && let FunctionArguments::List(list) = &mut function.args
            {
                list.args.truncate(1);
                if ignore_nulls {
                    function.null_treatment = Some(NullTreatment::IgnoreNulls);
                }
            }
        }
        "string_agg" | "listagg" => {
            function.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("string_agg"))]);
            if let FunctionArguments::List(list) = &mut function.args {
                if list.args.len() == 1 {
                    list.args
                        .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                            Value::SingleQuotedString(String::new()),
                        ))));
                }
                if !function.within_group.is_empty() {
                    list.clauses
                        .push(FunctionArgumentClause::OrderBy(std::mem::take(
                            &mut function.within_group,
                        )));
                }
            }
        }
        // mode() / percentile_disc(p) WITHIN GROUP (ORDER BY x [DESC]): the value column
        // first, then the fraction, and whether the order is descending.
        "mode" | "percentile_disc" if function.within_group.len() == 1 => {
            let order = function.within_group.remove(0);
            let descending = order.options.asc == Some(false);
            if let FunctionArguments::List(list) = &mut function.args {
                let mut args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(order.expr))];
                if name == "mode" {
                    args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                        Value::Boolean(true),
                    ))));
                } else {
                    args.append(&mut list.args);
                }
                args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                    Value::Boolean(descending),
                ))));
                list.args = args;
            } else {
                // `mode()` parses with an empty argument list.
                let mut args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(order.expr))];
                args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                    Value::Boolean(true),
                ))));
                args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                    Value::Boolean(descending),
                ))));
                function.args = FunctionArguments::List(
                    datafusion::sql::sqlparser::ast::FunctionArgumentList {
                        duplicate_treatment: None,
                        args,
                        clauses: vec![],
                    },
                );
            }
        }
        "rank" | "dense_rank" | "percent_rank" | "cume_dist" | "row_number"
            if function.over.is_some() && !texts.is_empty() =>
        {
            if let FunctionArguments::List(list) = &mut function.args {
                list.args.clear();
            }
        }
        _ => {}
    }
    Ok(())
}

/// The DDL of a `schema_of_json`/`schema_of_csv`/`schema_of_xml` call on a string literal
/// (without options), computed now.
fn inferred_schema(expr: &Expr) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let name = function_name(expr)?;
    let Expr::Function(function) = expr else {
        return None;
    };
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(sample)))] = list.args.as_slice()
    else {
        return None;
    };
    let sample = sample.value.clone().into_string()?;
    crate::functions::schema_of_literal(&name, &sample)
}

/// An integer literal (`7`, `-7`) that fits an `int`, cast to `int`.
fn int_typed_literal(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{CastKind, DataType, Value};
    let number = match &*expr {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } => match inner.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(text, false) => Some(format!("-{text}")),
                _ => None,
            },
            _ => None,
        },
        Expr::Value(v) => match &v.value {
            Value::Number(text, false) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    };
    if number.is_some_and(|n| n.parse::<i32>().is_ok()) {
        *expr = Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(expr.clone()),
            data_type: DataType::Int(None),
            array: false,
            format: None,
        };
    }
}

impl VisitorMut for SparkRewrites {
    type Break = ParserError;

    /// `SORT BY` sorts each partition and `CLUSTER BY x` is `DISTRIBUTE BY x SORT BY x`; Flint
    /// sorts the whole result instead, which is one of the orders they allow.
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Self::Break> {
        use datafusion::sql::sqlparser::ast::{OrderBy, OrderByKind, SetExpr};
        // A `VALUES` row's integer literal is an `int` when it fits, as Spark types it; typed
        // here, before planning, the column's type is fixed once (DataFusion reads `bigint`).
        if let SetExpr::Values(values) = query.body.as_mut() {
            values
                .rows
                .iter_mut()
                .flat_map(|row| row.content.iter_mut())
                .for_each(int_typed_literal);
        }
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        grouping_id_of_group(select);
        if !select.cluster_by.is_empty() {
            select.distribute_by = std::mem::take(&mut select.cluster_by);
            select.sort_by = select
                .distribute_by
                .iter()
                .map(|expr| OrderByExpr {
                    expr: expr.clone(),
                    options: OrderByOptions {
                        asc: None,
                        nulls_first: None,
                    },
                    with_fill: None,
                })
                .collect();
        }
        if !select.sort_by.is_empty() && query.order_by.is_none() {
            query.order_by = Some(OrderBy {
                kind: OrderByKind::Expressions(std::mem::take(&mut select.sort_by)),
                interpolate: None,
            });
        }
        ControlFlow::Continue(())
    }

    /// Table functions are found whatever the case of their name (`RANGE(10)`), as Spark's.
    fn pre_visit_table_factor(
        &mut self,
        factor: &mut datafusion::sql::sqlparser::ast::TableFactor,
    ) -> ControlFlow<Self::Break> {
        use datafusion::sql::sqlparser::ast::{ObjectNamePart, TableFactor};
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
            && let [ObjectNamePart::Identifier(function)] = name.0.as_mut_slice()
            && function.quote_style.is_none()
        {
            function.value = function.value.to_lowercase();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<Self::Break> {
        if !select.lateral_views.is_empty()
            && let Some(names) = rewrite_lateral_views(select)
        {
            self.lateral_views.extend(names);
        }
        // Generators in a select list become DataFusion's unnest, one per output column:
        // unnests of one select list run side by side.
        let mut projection = Vec::with_capacity(select.projection.len());
        for item in std::mem::take(&mut select.projection) {
            let generated = match &item {
                SelectItem::UnnamedExpr(expr) => generator_columns(expr),
                _ => None,
            };
            match generated {
                Some(Ok(items)) => projection.extend(items),
                Some(Err(error)) => return ControlFlow::Break(error),
                None => projection.push(item),
            }
        }
        select.projection = projection;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Self::Break> {
        if let Expr::Lambda(lambda) = expr
            && let Err(error) = lambda_field_access(lambda)
        {
            return ControlFlow::Break(error);
        }
        // Spark's `(a, b)` is a struct of fields col1, col2 (DataFusion takes only tuples of
        // literals and names, as the same struct).
        if let Expr::Tuple(items) = expr {
            let fields: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, item)| format!("'col{}', {item}", i + 1))
                .collect();
            match parse_expr(&format!("named_struct({})", fields.join(", "))) {
                Ok(rewritten) => *expr = rewritten,
                Err(error) => return ControlFlow::Break(error),
            }
        }
        reassociate_div(expr);
        if let Err(error) = rewrite_call(expr) {
            return ControlFlow::Break(error);
        }
        match expr {
            // Spark's TIME(p) keeps p fraction digits, at most 6; Flint keeps microseconds
            // (DataFusion takes only TIME without a precision).
            Expr::TypedString(typed) => time_without_precision(&mut typed.data_type),
            Expr::Cast { data_type, .. } => {
                time_without_precision(data_type);
                binary_as_bytea(data_type);
            }
            _ => {}
        }
        if let Expr::CompoundIdentifier(parts) = expr
            && let [view, column] = parts.as_slice()
            && self
                .lateral_views
                .iter()
                .any(|name| name.eq_ignore_ascii_case(&view.value))
        {
            *expr = Expr::Identifier(column.clone());
        }
        if calls(expr, "explode")
            && let Expr::Function(function) = expr
        {
            // Spark's explode of an array is DataFusion's unnest.
            function.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("unnest"))]);
        }
        if let Expr::UnaryOp {
            op: op @ UnaryOperator::BangNot,
            ..
        } = expr
        {
            *op = UnaryOperator::Not;
        }
        // CEIL(x, scale) / FLOOR(x, scale), which sqlparser reads as its own forms.
        let rounded = match expr {
            Expr::Ceil {
                expr: value,
                field: datafusion::sql::sqlparser::ast::CeilFloorKind::Scale(scale),
            } => Some(format!("spark_ceil({value}, {scale})")),
            Expr::Floor {
                expr: value,
                field: datafusion::sql::sqlparser::ast::CeilFloorKind::Scale(scale),
            } => Some(format!("spark_floor({value}, {scale})")),
            _ => None,
        };
        if let Some(sql) = rounded {
            match parse_expr(&sql) {
                Ok(call) => *expr = call,
                Err(error) => return ControlFlow::Break(error),
            }
        }
        if let Expr::UnaryOp {
            op: UnaryOperator::BitwiseNot,
            expr: operand,
        } = expr
        {
            match parse_expr(&format!("bitwise_not({operand})")) {
                Ok(call) => *expr = call,
                Err(error) => return ControlFlow::Break(error),
            }
        }
        if let Expr::RLike {
            negated,
            expr: value,
            pattern,
            ..
        } = expr
        {
            let op = if *negated {
                BinaryOperator::PGRegexNotMatch
            } else {
                BinaryOperator::PGRegexMatch
            };
            *expr = Expr::BinaryOp {
                left: value.clone(),
                op,
                right: pattern.clone(),
            };
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        parse_statements(text)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn typed_literals_become_casts() {
        assert_eq!(
            round_trip("SELECT 1L, 2S, 3Y, 1.5D, 1.5F, 1.50BD, 1e3"),
            "SELECT CAST(1 AS BIGINT), CAST(2 AS SMALLINT), CAST(3 AS TINYINT), \
             CAST(1.5 AS DOUBLE), CAST(1.5 AS FLOAT), CAST(1.50 AS DECIMAL(3,2)), \
             CAST(1e3 AS DOUBLE)"
        );
        // A suffix needs no space; with one it is an alias.
        assert_eq!(round_trip("SELECT 1 L"), "SELECT 1 AS L");
    }

    #[test]
    fn spark_intervals_and_exists_are_rewritten() {
        assert_eq!(
            round_trip("SELECT INTERVAL 5 days 3 hours, INTERVAL '1-2' YEAR TO MONTH"),
            "SELECT CAST('5 day 3 hour' AS INTERVAL), CAST('1 years 2 months' AS INTERVAL)"
        );
        assert_eq!(
            round_trip("SELECT INTERVAL '-1 2:03:04.5' DAY TO SECOND, INTERVAL 1 DAY"),
            "SELECT CAST('-1 days -2 hours -03 minutes -04.5 seconds' AS INTERVAL), INTERVAL 1 DAY"
        );
        assert_eq!(
            round_trip("SELECT exists(array(1), x -> x > 1), EXISTS (SELECT 1)"),
            "SELECT array_any_match(array(1), x -> x > 1), EXISTS (SELECT 1)"
        );
    }

    #[test]
    fn window_durations_read_as_spark_reads_them() {
        let micros = |text: &str| window_duration("window", "windowDuration", text);
        assert_eq!(micros("'5 seconds'").unwrap(), 5_000_000);
        assert_eq!(micros("'1 day 2 hours'").unwrap(), 93_600_000_000);
        assert_eq!(micros("'interval 1 minute'").unwrap(), 60_000_000);
        assert!(
            micros("'5 months'")
                .unwrap_err()
                .to_string()
                .contains("month")
        );
        assert!(micros("'soon'").is_err());
        assert_eq!(micros("'1.5 seconds'").unwrap(), 1_500_000);
        assert_eq!(micros("'-2 minutes'").unwrap(), -120_000_000);
        // Only seconds take a fraction, and `ms` is no unit of Spark's.
        assert!(micros("'1.5 hours'").is_err());
        assert!(micros("'5 ms'").is_err());
        assert!(micros("dt").is_err());
        assert!(
            time_window(
                "window",
                &["t".into(), "'5 seconds'".into(), "'10 seconds'".into()]
            )
            .is_err()
        );
    }

    #[test]
    fn an_inferred_schema_of_a_literal_is_folded_into_from_json() {
        assert_eq!(
            round_trip(
                "SELECT from_csv(v, schema_of_csv('1,abc')), from_json(v, schema_of_json(v))"
            ),
            "SELECT from_csv(v, 'STRUCT<_c0: INT, _c1: STRING>'), from_json(v, schema_of_json(v))"
        );
    }

    #[test]
    fn string_literals_read_as_spark_reads_them() {
        assert_eq!(
            spark_string_literals(r"SELECT 'Don\'t', r'\d+'"),
            r"SELECT 'Don''t', '\d+'"
        );
        assert_eq!(
            spark_string_literals("SELECT 'a\\tb' -- it's"),
            "SELECT 'a\tb' -- it's"
        );
        assert_eq!(
            spark_string_literals("SELECT `it's`, 'x'"),
            "SELECT `it's`, 'x'"
        );
        assert_eq!(spark_string_literals(r"SELECT '\%'"), r"SELECT '\%'");
    }

    #[test]
    fn scripts_split_outside_literals_and_comments() {
        // A raw string's backslash escapes nothing.
        assert_eq!(
            split_script(r"select r'\'; select 2"),
            vec![r"select r'\'", "select 2"]
        );
        assert_eq!(
            split_script("select 'a;\\'b' ; -- c; d\n/*+ BROADCAST(t) */ select 2;;"),
            vec![
                "select 'a;\\'b'".to_string(),
                "/*+ BROADCAST(t) */ select 2".to_string()
            ]
        );
    }

    #[test]
    fn lateral_views_become_derived_tables() {
        assert_eq!(
            round_trip("SELECT t.x, v.e FROM t LATERAL VIEW explode(t.x) v AS e"),
            "SELECT t.x, e FROM (SELECT t.*, unnest(t.x) AS e FROM t) AS t"
        );
    }

    #[test]
    fn div_binds_as_tightly_as_division() {
        assert_eq!(round_trip("SELECT a DIV 2 = 1"), "SELECT a DIV 2 = 1");
        assert_eq!(
            round_trip("SELECT a DIV 2 * 3, a DIV (2 + 1), a DIV 2 IS NULL"),
            "SELECT a DIV 2 * 3, a DIV (2 + 1), a DIV 2 IS NULL"
        );
        let statement = &parse_statements("SELECT 7 DIV 2 = 3").unwrap()[0];
        let Statement::Query(query) = statement else {
            panic!("a query")
        };
        let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else {
            panic!("a select")
        };
        let SelectItem::UnnamedExpr(Expr::BinaryOp { op, .. }) = &select.projection[0] else {
            panic!("a binary operation")
        };
        assert_eq!(*op, BinaryOperator::Eq);
    }

    #[test]
    fn spark_operators_are_rewritten() {
        assert_eq!(
            round_trip("SELECT 'abc' RLIKE 'b', 'a' NOT RLIKE 'b', 7 div 2, 1 <=> NULL"),
            "SELECT 'abc' ~ 'b', 'a' !~ 'b', 7 DIV 2, 1 <=> NULL"
        );
    }

    /// SQL-like text: Spark's tokens (typed literals, intervals, quotes, `!`, `RLIKE`,
    /// `EXISTS`, brackets) in any order, and any characters.
    fn sql_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop_oneof![
            Just("SELECT"),
            Just("FROM"),
            Just("WHERE"),
            Just("GROUP BY"),
            Just("INTERVAL"),
            Just("'1'"),
            Just("DAY"),
            Just("TO"),
            Just("SECOND"),
            Just("1L"),
            Just("2.5BD"),
            Just("1e3"),
            Just("3Y"),
            Just("x"),
            Just("`a b`"),
            Just("'it''s'"),
            Just("\"q\""),
            Just("r'\\d'"),
            Just("!"),
            Just("RLIKE"),
            Just("EXISTS"),
            Just("explode"),
            Just("("),
            Just(")"),
            Just(","),
            Just("*"),
            Just("+"),
            Just("AS"),
            Just("CAST"),
            Just("TIMESTAMP_NTZ"),
            Just(";"),
            Just("'"),
            Just("--"),
        ];
        prop_oneof![
            proptest::collection::vec(token, 0..24).prop_map(|tokens| tokens.join(" ")),
            "\\PC{0,60}",
        ]
    }

    proptest::proptest! {
        /// SQL text of any shape parses or is an error; never a panic (the statement's
        /// process keeps running).
        #[test]
        fn any_sql_text_parses_or_is_an_error(text in sql_like()) {
            let _ = parse_sql(&text);
            let _ = parse_expression(&text);
            let _ = crate::ddl::parse_ddl(&text);
        }
    }
}
