//! `spark.read.json(df)` / `spark.read.csv(df)` (Connect `Parse`): a DataFrame of one text
//! column parsed as JSON or CSV records, each becoming a row. Without a schema, JSON records'
//! schema is inferred as Spark's JSON source infers it (a job reads the records; fields
//! merged and sorted by name); the records are then parsed where they are, by `from_json`.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame as DfFrame;
use spark_connect::parse::ParseFormat;

use super::{Planner, input};
use crate::error::ConnectError;
use crate::expression::quote;

/// The column holding each parsed record between the parse and the expansion.
const PARSED: &str = "__flint_parsed";

impl Planner<'_> {
    /// Plans `Parse`: the text column through `from_json`/`from_csv`, then its fields.
    pub(super) async fn parse(
        &mut self,
        parse: &spark_connect::Parse,
    ) -> Result<DfFrame, ConnectError> {
        let df = self.relation(input(&parse.input, "Parse.input")?).await?;
        let [field] = df.schema().fields().iter().collect::<Vec<_>>()[..] else {
            return Err(ConnectError::Analysis(
                "[INVALID_PARSE_INPUT] spark.read.json/csv of a DataFrame needs exactly one text column".into(),
            ));
        };
        let column = quote(field.name());
        let format = ParseFormat::try_from(parse.format).unwrap_or(ParseFormat::Unspecified);
        let function = match format {
            ParseFormat::Json => "from_json",
            ParseFormat::Csv => "from_csv",
            other => {
                return Err(ConnectError::Unsupported(format!(
                    "parsing a DataFrame's text as {}",
                    other.as_str_name()
                )));
            }
        };
        let schema = match &parse.schema {
            Some(schema) => {
                flint_sql::functions::spark_type_name(&crate::types::from_connect(schema)?)
            }
            None if format == ParseFormat::Json => {
                let text = df.clone().select(vec![datafusion::prelude::cast(
                    datafusion::prelude::col(datafusion::common::Column::from_name(field.name())),
                    DataType::Utf8,
                )])?;
                let batches = flint::DataFrame::from_datafusion(self.session, text, "json")
                    .collect_as("json")
                    .await?;
                let records = batches.iter().flat_map(|batch| {
                    let strings = batch.column(0).as_string::<i32>();
                    (0..strings.len())
                        .filter(move |i| strings.is_valid(*i))
                        .map(move |i| strings.value(i))
                });
                flint_sql::functions::infer_records_schema(records)
                    .unwrap_or_else(|| "STRUCT<>".to_string())
            }
            None => {
                return Err(ConnectError::Unsupported(
                    "spark.read.csv of a DataFrame without a schema: give one with .schema(...)"
                        .into(),
                ));
            }
        };
        let options = if parse.options.is_empty() {
            String::new()
        } else {
            let pairs: Vec<String> = parse
                .options
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}, {}",
                        crate::literal::string_literal(k),
                        crate::literal::string_literal(v)
                    )
                })
                .collect();
            format!(", map({})", pairs.join(", "))
        };
        let parsed = self.sql_expr(
            df.schema(),
            &format!(
                "{function}({column}, {}{options})",
                crate::literal::string_literal(&schema)
            ),
        )?;
        let df = df.select(vec![parsed.alias(PARSED)])?;
        let DataType::Struct(fields) = df.schema().field(0).data_type().clone() else {
            return Err(ConnectError::Analysis(format!(
                "[INVALID_SCHEMA] {schema} is not a struct"
            )));
        };
        let columns = fields
            .iter()
            .map(|f| {
                self.sql_expr(
                    df.schema(),
                    &format!("{}.{}", quote(PARSED), quote(f.name())),
                )
                .map(|e| e.alias(f.name()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(df.select(columns)?)
    }
}
