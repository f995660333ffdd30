//! Spark's `text` data source: each line of each file is a row of one string column (`value`
//! unless the reader's schema names it), without its line break; `wholetext` makes each file
//! one row, `lineSep` splits at another separator. The files are split among the scan's
//! partitions (whole files: Spark splits big files at block boundaries too, which this does not
//! yet), and each task reads its own files, so the scan runs on the executors like any other.
//! [`TextWriterExec`] writes: each task one file of its partition's rows.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

/// How the files are cut into rows (Spark's text options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// `wholetext`: each file is one row.
    pub whole_text: bool,
    /// `lineSep`: the separator between rows; `None` is any of `\n`, `\r\n`.
    pub line_sep: Option<String>,
}

impl TextOptions {
    /// The options from Spark's (lowercased) reader options; unknown ones are ignored.
    pub fn from_spark(options: &std::collections::BTreeMap<String, String>) -> Result<Self> {
        let whole_text = match options.get("wholetext").map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => return plan_err!("text option wholetext must be true or false, got {v}"),
        };
        let line_sep = match options.get("linesep") {
            Some(sep) if sep.is_empty() => {
                return plan_err!("text option lineSep cannot be empty");
            }
            other => other.cloned(),
        };
        Ok(TextOptions {
            whole_text,
            line_sep,
        })
    }
}

/// The files of `path` the text source reads: the file itself, or a directory's files whose
/// names do not start with `_` or `.` (`_SUCCESS`, hidden files), sorted.
pub fn text_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let io = |e: std::io::Error| DataFusionError::Execution(format!("{}: {e}", path.display()));
    let mut files = vec![];
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        if entry.file_type().map_err(io)?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The schema of a text table: one string column, named as `schema`'s only column or `value`.
pub fn text_schema(schema: Option<&Schema>) -> Result<SchemaRef> {
    let name = match schema {
        None => "value".to_string(),
        Some(schema) => match schema.fields().as_ref() {
            [field]
                if matches!(
                    field.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                field.name().clone()
            }
            _ => {
                return plan_err!(
                    "Text data source supports only a single column of type string, and you have {schema}"
                );
            }
        },
    };
    Ok(Arc::new(Schema::new(vec![Field::new(
        name,
        DataType::Utf8,
        true,
    )])))
}

/// A text table over a list of files.
#[derive(Debug)]
pub struct TextTable {
    files: Vec<String>,
    schema: SchemaRef,
    options: TextOptions,
}

impl TextTable {
    /// The table of `files`, its one column as `schema` (see [`text_schema`]).
    pub fn new(files: Vec<PathBuf>, schema: SchemaRef, options: TextOptions) -> Self {
        TextTable {
            files: files.iter().map(|f| f.display().to_string()).collect(),
            schema,
            options,
        }
    }
}

#[async_trait]
impl TableProvider for TextTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let slots = state.config().target_partitions().max(1);
        let count = self.files.len().clamp(1, slots);
        let mut groups = vec![vec![]; count];
        for (i, file) in self.files.iter().enumerate() {
            groups[i % count].push(file.clone());
        }
        let with_value = projection.is_none_or(|p| p.contains(&0));
        Ok(Arc::new(TextScanExec::new(
            groups,
            Arc::clone(&self.schema),
            with_value,
            self.options.clone(),
        )))
    }
}

/// Reads the files of each partition as rows of text.
#[derive(Debug)]
pub struct TextScanExec {
    groups: Vec<Vec<String>>,
    /// The table's schema (one string column).
    table_schema: SchemaRef,
    /// Whether the column is read (else rows without columns are counted).
    with_value: bool,
    options: TextOptions,
    properties: Arc<PlanProperties>,
}

impl TextScanExec {
    /// A scan of `groups` (one partition per group of files).
    pub fn new(
        groups: Vec<Vec<String>>,
        table_schema: SchemaRef,
        with_value: bool,
        options: TextOptions,
    ) -> Self {
        let schema = if with_value {
            Arc::clone(&table_schema)
        } else {
            Arc::new(Schema::empty())
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(groups.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        TextScanExec {
            groups,
            table_schema,
            with_value,
            options,
            properties,
        }
    }

    /// The files of each partition.
    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }

    /// The table's schema, before projection.
    pub fn table_schema(&self) -> &SchemaRef {
        &self.table_schema
    }

    /// Whether the scan reads the column (false: only counts rows).
    pub fn with_value(&self) -> bool {
        self.with_value
    }

    /// How lines are cut.
    pub fn options(&self) -> &TextOptions {
        &self.options
    }
}

impl DisplayAs for TextScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.groups.iter().map(Vec::len).sum();
        write!(
            f,
            "TextScanExec: {files} files in {} partitions",
            self.groups.len()
        )
    }
}

impl ExecutionPlan for TextScanExec {
    fn name(&self) -> &str {
        "TextScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let files = self.groups.get(partition).cloned().unwrap_or_default();
        let schema = self.properties.eq_properties.schema().clone();
        let batch_size = context.session_config().batch_size().max(1);
        let mut rows = TextRows {
            files: files.into_iter(),
            current: None,
            options: self.options.clone(),
        };
        let output_schema = Arc::clone(&schema);
        let with_value = self.with_value;
        let batches = std::iter::from_fn(move || {
            let mut values = StringBuilder::new();
            let mut count = 0;
            while count < batch_size {
                match rows.next() {
                    Some(Ok(line)) => {
                        if with_value {
                            values.append_value(line);
                        }
                        count += 1;
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => break,
                }
            }
            if count == 0 {
                return None;
            }
            let columns = if with_value {
                vec![Arc::new(values.finish()) as _]
            } else {
                vec![]
            };
            let options = RecordBatchOptions::new().with_row_count(Some(count));
            Some(
                RecordBatch::try_new_with_options(Arc::clone(&output_schema), columns, &options)
                    .map_err(DataFusionError::from),
            )
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches),
        )))
    }
}

/// One file's rows, as they are read.
type FileRows = Box<dyn Iterator<Item = std::io::Result<String>> + Send>;

/// The rows of a partition's files, read file by file.
struct TextRows {
    files: std::vec::IntoIter<String>,
    current: Option<(String, FileRows)>,
    options: TextOptions,
}

impl TextRows {
    fn open(&self, path: &str) -> std::io::Result<FileRows> {
        let mut file = std::fs::File::open(path)?;
        if self.options.whole_text {
            let mut bytes = vec![];
            file.read_to_end(&mut bytes)?;
            return Ok(Box::new(std::iter::once(Ok(text_of(bytes)))));
        }
        if let Some(sep) = &self.options.line_sep {
            let mut text = String::new();
            let mut bytes = vec![];
            file.read_to_end(&mut bytes)?;
            text.push_str(&text_of(bytes));
            let mut lines: Vec<String> = text.split(sep.as_str()).map(str::to_string).collect();
            // A separator ending the file ends the last row rather than starting an empty one.
            if lines.last().is_some_and(String::is_empty) {
                lines.pop();
            }
            return Ok(Box::new(lines.into_iter().map(Ok)));
        }
        let mut reader = BufReader::new(file);
        Ok(Box::new(std::iter::from_fn(move || {
            let mut line = vec![];
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => None,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    Some(Ok(text_of(line)))
                }
                Err(e) => Some(Err(e)),
            }
        })))
    }
}

impl Iterator for TextRows {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        loop {
            if let Some((path, lines)) = &mut self.current {
                match lines.next() {
                    Some(Ok(line)) => return Some(Ok(line)),
                    Some(Err(e)) => {
                        return Some(Err(DataFusionError::Execution(format!("{path}: {e}"))));
                    }
                    None => self.current = None,
                }
            }
            let path = self.files.next()?;
            match self.open(&path) {
                Ok(lines) => self.current = Some((path, lines)),
                Err(e) => return Some(Err(DataFusionError::Execution(format!("{path}: {e}")))),
            }
        }
    }
}

/// Bytes as text; invalid UTF-8 becomes U+FFFD, as Spark decodes it.
fn text_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes each partition of its input as one text file of the directory (`part-NNNNN-<job>.txt`,
/// a line per row, a NULL as an empty line), and answers the rows written; the file appears
/// whole (written under a hidden name, then renamed), so a retried task replaces it.
#[derive(Debug)]
pub struct TextWriterExec {
    input: Arc<dyn ExecutionPlan>,
    directory: String,
    job: String,
    properties: Arc<PlanProperties>,
}

impl TextWriterExec {
    /// Writes `input`'s one string column under `directory`; `job` makes the names unique.
    pub fn new(input: Arc<dyn ExecutionPlan>, directory: String, job: String) -> Self {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )]));
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        TextWriterExec {
            input,
            directory,
            job,
            properties,
        }
    }

    /// The directory written into.
    pub fn directory(&self) -> &str {
        &self.directory
    }

    /// The write's unique name part.
    pub fn job(&self) -> &str {
        &self.job
    }
}

impl DisplayAs for TextWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TextWriterExec: {}", self.directory)
    }
}

impl ExecutionPlan for TextWriterExec {
    fn name(&self) -> &str {
        "TextWriterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("TextWriterExec needs one input".into()))?;
        Ok(Arc::new(TextWriterExec::new(
            input,
            self.directory.clone(),
            self.job.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let directory = PathBuf::from(&self.directory);
        let name = format!("part-{partition:05}-{}.txt", self.job);
        let schema = self.properties.eq_properties.schema().clone();
        let output_schema = Arc::clone(&schema);
        let written = async move {
            use futures::StreamExt;
            use std::io::Write;
            let hidden = directory.join(format!(".{name}.inprogress"));
            let io = |e: std::io::Error| {
                DataFusionError::Execution(format!("writing {}: {e}", directory.display()))
            };
            let mut file = std::io::BufWriter::new(std::fs::File::create(&hidden).map_err(io)?);
            let mut rows: u64 = 0;
            while let Some(batch) = input.next().await {
                let batch = batch?;
                let column = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
                let lines = column
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::StringArray>()
                    .ok_or_else(|| DataFusionError::Internal("text column is not text".into()))?;
                for line in lines.iter() {
                    file.write_all(line.unwrap_or_default().as_bytes())
                        .map_err(io)?;
                    file.write_all(b"\n").map_err(io)?;
                }
                rows += batch.num_rows() as u64;
            }
            file.flush().map_err(io)?;
            drop(file);
            std::fs::rename(&hidden, directory.join(&name)).map_err(io)?;
            let count = datafusion::arrow::array::UInt64Array::from(vec![rows]);
            Ok(RecordBatch::try_new(output_schema, vec![Arc::new(count)])?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(written),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, StringArray};
    use datafusion::prelude::SessionContext;
    use futures::TryStreamExt;

    async fn read(contents: &[&[u8]], options: TextOptions) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        for (i, bytes) in contents.iter().enumerate() {
            std::fs::write(dir.path().join(format!("part-{i}.txt")), bytes).expect("write");
        }
        std::fs::write(dir.path().join("_SUCCESS"), b"").expect("write");
        let files = text_files(dir.path()).expect("files");
        let table = TextTable::new(files, text_schema(None).expect("schema"), options);
        let ctx = SessionContext::new();
        let plan = table
            .scan(&ctx.state(), None, &[], None)
            .await
            .expect("scan");
        let mut lines = vec![];
        for partition in 0..plan.properties().output_partitioning().partition_count() {
            let batches: Vec<RecordBatch> = plan
                .execute(partition, ctx.task_ctx())
                .expect("execute")
                .try_collect()
                .await
                .expect("read");
            for batch in batches {
                let column = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("text");
                lines.extend((0..column.len()).map(|i| column.value(i).to_string()));
            }
        }
        lines.sort();
        lines
    }

    #[tokio::test]
    async fn lines_lose_their_breaks_and_keep_empty_lines() {
        let lines = read(&[b"a\r\nb\n\nc", b"d\n"], TextOptions::default()).await;
        assert_eq!(lines, ["", "a", "b", "c", "d"]);
    }

    #[tokio::test]
    async fn whole_text_and_line_separators() {
        let whole = TextOptions {
            whole_text: true,
            line_sep: None,
        };
        assert_eq!(read(&[b"a\nb\n"], whole).await, ["a\nb\n"]);
        let comma = TextOptions {
            whole_text: false,
            line_sep: Some(",".into()),
        };
        assert_eq!(read(&[b"1,2,3,"], comma).await, ["1", "2", "3"]);
    }
}
