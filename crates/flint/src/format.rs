//! Rows as text, the way Spark prints them: `show()` tables and `spark-sql` output lines.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

/// The values of every row of `batch` as Spark's `show()` prints them: each value cast to a
/// string as Spark casts it (`NULL`, `[1, 2]`, `{a -> 1}`, doubles as Java prints them).
pub fn format_row_values(batch: &RecordBatch) -> Vec<Vec<String>> {
    let format = flint_sql::HiveFormat::cast_to_string();
    (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .map(|column| format.value(column, row, false))
                .collect()
        })
        .collect()
}

/// Spark's `showString(n, truncate = 20)`: a boxed table of the first `n` rows, right-aligned
/// cells cut to 20 characters, and a note when more rows exist.
pub fn format_show(schema: &SchemaRef, batches: &[RecordBatch], n: usize) -> String {
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let all_rows: Vec<Vec<String>> = batches.iter().flat_map(format_row_values).collect();
    let has_more = all_rows.len() > n;
    let rows: Vec<Vec<String>> = all_rows
        .into_iter()
        .take(n)
        .map(|row| {
            row.into_iter()
                .map(|cell| {
                    if cell.chars().count() > 20 {
                        format!("{}...", cell.chars().take(17).collect::<String>())
                    } else {
                        cell
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let separator: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(*w)))
        .collect::<String>()
        + "+\n";
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("|{c:>w$}"))
            .collect::<String>()
            + "|\n"
    };
    let mut out = separator.clone();
    out += &line(&header);
    out += &separator;
    for row in &rows {
        out += &line(row);
    }
    out += &separator;
    if has_more {
        out += &format!(
            "only showing top {n} row{}\n",
            if n == 1 { "" } else { "s" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn values_are_cast_to_strings_as_spark_does() {
        use datafusion::arrow::array::Float64Array;
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Float64Array::from(vec![
                Some(1e10),
                Some(0.5),
                None,
            ]))],
        )
        .unwrap();
        assert_eq!(
            format_row_values(&batch),
            [["1.0E10"], ["0.5"], ["NULL"]].map(|r| r.map(String::from).to_vec())
        );
    }

    #[test]
    fn shows_like_spark() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 22, 3])),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("a very long name indeed, really"),
                ])),
            ],
        )
        .unwrap();
        let text = format_show(&schema, &[batch], 2);
        assert_eq!(
            text,
            "+---+----+\n| id|name|\n+---+----+\n|  1|   a|\n| 22|NULL|\n+---+----+\nonly showing top 2 rows\n"
        );
    }
}
